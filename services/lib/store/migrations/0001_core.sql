-- 0001 core: domains and accounts, mailboxes and messages, quota, the spool and its
-- per-recipient state, and the exactly-once delivery keys.
--
-- Conventions for every migration:
--  * Every table that grows with mail or calendar data has account_id as the first column
--    of its primary key, so the schema can be distributed by account (Citus) later and each
--    query of a mail path touches one account.
--  * Addresses and domain names are stored lowercase; the application lowercases, the
--    CHECKs make sure it did.
--  * IMAP numbers (uid, uidvalidity) are unsigned 32-bit on the wire: bigint with a CHECK.
--  * Released migrations are never edited (their checksum is recorded): add a new file.

CREATE TABLE domains (
  id         bigserial PRIMARY KEY,
  name       text NOT NULL UNIQUE CHECK (name <> '' AND name = lower(name)),
  -- Address (lowercase) that receives mail for unknown local parts; NULL = reject at RCPT.
  catch_all  text NULL CHECK (catch_all = lower(catch_all)),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
  id            bigserial PRIMARY KEY,
  domain_id     bigint NOT NULL REFERENCES domains (id) ON DELETE RESTRICT,
  local_part    text NOT NULL CHECK (local_part <> ''),
  address       text NOT NULL UNIQUE CHECK (address = lower(address) AND position('@' IN address) > 1),
  display_name  text NOT NULL DEFAULT '',
  -- argon2id PHC string. Principals that never log in (shared mailboxes, resources) hold a
  -- value that is not a valid hash (e.g. '!'), which never verifies.
  password_hash text NOT NULL,
  quota_bytes   bigint NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0),  -- 0 = unlimited
  enabled       boolean NOT NULL DEFAULT true,
  created_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (domain_id, local_part)
);

CREATE TABLE mailboxes (
  account_id      bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  id              bigserial,
  name            text NOT NULL CHECK (name <> ''),  -- full hierarchical name, '/' separated, UTF-8
  uidvalidity     bigint NOT NULL CHECK (uidvalidity BETWEEN 1 AND 4294967295),
  uidnext         bigint NOT NULL DEFAULT 1 CHECK (uidnext BETWEEN 1 AND 4294967296),
  highest_modseq  bigint NOT NULL DEFAULT 1 CHECK (highest_modseq >= 1),
  special_use     text NULL,  -- RFC 6154 attribute as sent on the wire, e.g. '\Sent'
  subscribed      boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, id),
  UNIQUE (account_id, name)
);

-- Immutable message bodies, stored once however many mailbox entries point at them
-- (a list delivery to 500 members is one row). Garbage-collected when no entry refers to it.
CREATE TABLE messages (
  id           bigserial PRIMARY KEY,
  sha256       bytea NULL CHECK (sha256 IS NULL OR length(sha256) = 32),
  size         bigint NOT NULL CHECK (size >= 0),
  body         bytea NOT NULL,
  headers_json jsonb NULL,  -- parsed envelope / bodystructure, cached at delivery
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_sha256 ON messages (sha256) WHERE sha256 IS NOT NULL;

CREATE TABLE mailbox_entries (
  account_id    bigint NOT NULL,
  mailbox_id    bigint NOT NULL,
  uid           bigint NOT NULL CHECK (uid BETWEEN 1 AND 4294967295),
  message_id    bigint NOT NULL REFERENCES messages (id) ON DELETE RESTRICT,
  flags         text[] NOT NULL DEFAULT '{}',
  modseq        bigint NOT NULL CHECK (modseq >= 1),
  internal_date timestamptz NOT NULL,
  size          bigint NOT NULL CHECK (size >= 0),
  PRIMARY KEY (account_id, mailbox_id, uid),
  FOREIGN KEY (account_id, mailbox_id) REFERENCES mailboxes (account_id, id) ON DELETE CASCADE
);
-- CONDSTORE / QRESYNC: FETCH ... (CHANGEDSINCE m), SEARCH MODSEQ.
CREATE INDEX mailbox_entries_modseq ON mailbox_entries (account_id, mailbox_id, modseq);
-- Garbage collection of message bodies no entry refers to any more.
CREATE INDEX mailbox_entries_message ON mailbox_entries (message_id);

-- UIDs expunged from a mailbox with the modseq of the expunge, for QRESYNC's VANISHED
-- (RFC 7162 3.2.10). May be pruned below a per-mailbox horizon.
CREATE TABLE mailbox_expunges (
  account_id bigint NOT NULL,
  mailbox_id bigint NOT NULL,
  uid        bigint NOT NULL,
  modseq     bigint NOT NULL,
  PRIMARY KEY (account_id, mailbox_id, uid),
  FOREIGN KEY (account_id, mailbox_id) REFERENCES mailboxes (account_id, id) ON DELETE CASCADE
);
CREATE INDEX mailbox_expunges_modseq ON mailbox_expunges (account_id, mailbox_id, modseq);

-- Updated in the same transaction as every insert into / expunge from mailbox_entries.
CREATE TABLE quota_usage (
  account_id bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
  bytes      bigint NOT NULL DEFAULT 0,
  messages   bigint NOT NULL DEFAULT 0
);

-- Exactly-once delivery: the mailbox insert for (spool_id, recipient) happens in the same
-- transaction as this row, so a redelivered queue entry finds the key and does nothing.
-- Not a foreign key to spool: the key must outlive the spool row it came from.
CREATE TABLE deliveries (
  spool_id     bigint NOT NULL,
  recipient    text NOT NULL,
  account_id   bigint NULL,
  delivered_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (spool_id, recipient)
);
CREATE INDEX deliveries_delivered_at ON deliveries (delivered_at);  -- pruning old keys

-- The spool: every accepted message, committed before the front answers 250. The source of
-- truth for queued mail; the Redis streams are only the work list.
CREATE TABLE spool (
  id          bigserial PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now(),
  mail_from   text NOT NULL,  -- reverse-path; '' for the null sender <>
  helo        text NULL,
  client_addr text NULL,
  auth_user   text NULL,
  size        bigint NOT NULL CHECK (size >= 0),
  body        bytea NOT NULL,
  source      text NOT NULL CHECK (source IN ('mta', 'submission', 'internal'))
);
CREATE INDEX spool_received_at ON spool (received_at);

CREATE TABLE spool_recipients (
  spool_id        bigint NOT NULL REFERENCES spool (id) ON DELETE CASCADE,
  recipient       text NOT NULL,
  kind            text NOT NULL CHECK (kind IN ('local', 'remote')),
  account_id      bigint NULL,
  state           text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'delivered', 'deferred', 'failed')),
  attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  enqueued_at     timestamptz NULL,  -- last time put on the Redis stream
  last_error      text NULL,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (spool_id, recipient)
);
-- The reconciler: recipients still due and not in flight.
CREATE INDEX spool_recipients_due ON spool_recipients (next_attempt_at)
  WHERE state IN ('queued', 'deferred');
-- Queue inspection by destination domain / state (kitectl queue).
CREATE INDEX spool_recipients_state ON spool_recipients (state, kind);
