-- 0002 directory: aliases, distribution lists, shared mailboxes and their grants, resources
-- with their booking policy, and application passwords.
--
-- Every principal that owns mailboxes or calendars is a row in accounts: a person, a shared
-- mailbox (accounts row + shared_mailboxes row) or a resource (accounts row + resources
-- row). So mailboxes, entries, quota, calendars and grants work the same for all of them,
-- and the kind of an account is "shared"/"resource" exactly when such a row exists. Those
-- two never log in (their password_hash is not a valid hash).
--
-- One address namespace: an address belongs to exactly one account, alias or list.
-- address_claims enforces that across the three tables (kept by triggers, so a plain INSERT
-- into accounts/aliases/lists is all callers write); a clash is a unique violation on
-- address_claims_pkey (AlreadyExists through the store). It is also the one-lookup
-- resolver for RCPT: SELECT kind, owner_id FROM address_claims WHERE address = $1.

CREATE TABLE address_claims (
  address  text PRIMARY KEY CHECK (address = lower(address)),
  kind     text NOT NULL CHECK (kind IN ('account', 'alias', 'list')),
  owner_id bigint NOT NULL  -- accounts.id, aliases.id or lists.id according to kind
);

CREATE FUNCTION kite_claim_address() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM address_claims
      WHERE address = OLD.address AND kind = TG_ARGV[0] AND owner_id = OLD.id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO address_claims (address, kind, owner_id) VALUES (NEW.address, TG_ARGV[0], NEW.id);
  END IF;
  RETURN NULL;
END
$$;

INSERT INTO address_claims (address, kind, owner_id) SELECT address, 'account', id FROM accounts;

CREATE TRIGGER accounts_claim_insert AFTER INSERT OR DELETE ON accounts
  FOR EACH ROW EXECUTE FUNCTION kite_claim_address('account');
CREATE TRIGGER accounts_claim_update AFTER UPDATE OF address ON accounts
  FOR EACH ROW WHEN (OLD.address IS DISTINCT FROM NEW.address) EXECUTE FUNCTION kite_claim_address('account');

-- Another address for one target: a local account, or any address (forwarding, which makes
-- the alias deliver remotely). Several targets = a list.
CREATE TABLE aliases (
  id                bigserial PRIMARY KEY,
  domain_id         bigint NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
  address           text NOT NULL UNIQUE CHECK (address = lower(address) AND position('@' IN address) > 1),
  target_account_id bigint NULL REFERENCES accounts (id) ON DELETE CASCADE,
  target_address    text NULL CHECK (target_address = lower(target_address)),
  created_at        timestamptz NOT NULL DEFAULT now(),
  CHECK ((target_account_id IS NULL) <> (target_address IS NULL))
);
-- The account's own aliases (send-as check at submission, kitectl listing).
CREATE INDEX aliases_target_account ON aliases (target_account_id) WHERE target_account_id IS NOT NULL;

CREATE TRIGGER aliases_claim_insert AFTER INSERT OR DELETE ON aliases
  FOR EACH ROW EXECUTE FUNCTION kite_claim_address('alias');
CREATE TRIGGER aliases_claim_update AFTER UPDATE OF address ON aliases
  FOR EACH ROW WHEN (OLD.address IS DISTINCT FROM NEW.address) EXECUTE FUNCTION kite_claim_address('alias');

-- Distribution lists: delivery expands them (recursively, with loop detection) and stores
-- one message row shared by every local member's mailbox entry.
CREATE TABLE lists (
  id             bigserial PRIMARY KEY,
  domain_id      bigint NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
  address        text NOT NULL UNIQUE CHECK (address = lower(address) AND position('@' IN address) > 1),
  display_name   text NOT NULL DEFAULT '',
  -- Who may post: anyone; senders of the list's domain; members only; moderators only.
  posting_policy text NOT NULL DEFAULT 'anyone'
                 CHECK (posting_policy IN ('anyone', 'domain', 'members', 'moderators')),
  created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER lists_claim_insert AFTER INSERT OR DELETE ON lists
  FOR EACH ROW EXECUTE FUNCTION kite_claim_address('list');
CREATE TRIGGER lists_claim_update AFTER UPDATE OF address ON lists
  FOR EACH ROW WHEN (OLD.address IS DISTINCT FROM NEW.address) EXECUTE FUNCTION kite_claim_address('list');

CREATE TABLE list_members (
  list_id    bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
  address    text NOT NULL CHECK (address = lower(address)),  -- local (account, alias, list) or remote
  account_id bigint NULL REFERENCES accounts (id) ON DELETE CASCADE,  -- set when a local account
  moderator  boolean NOT NULL DEFAULT false,
  added_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (list_id, address)
);
CREATE INDEX list_members_account ON list_members (account_id) WHERE account_id IS NOT NULL;

-- A shared mailbox is an account (it owns mailboxes and quota) that nobody logs in to;
-- people reach it through grants.
CREATE TABLE shared_mailboxes (
  account_id bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- What one account may do with another's mail: used for shared mailboxes and for
-- delegation of a personal account alike. Checked by IMAP/POP3 on every command and by
-- submission for From/Sender.
CREATE TABLE account_grants (
  owner_account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  grantee_account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  may_read           boolean NOT NULL DEFAULT true,   -- list, select, fetch, search
  may_write          boolean NOT NULL DEFAULT false,  -- flags, append, copy in, expunge
  may_send_as        boolean NOT NULL DEFAULT false,  -- From: owner's address
  may_send_on_behalf boolean NOT NULL DEFAULT false,  -- From: owner, Sender: grantee
  granted_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner_account_id, grantee_account_id),
  CHECK (owner_account_id <> grantee_account_id)
);
-- "What can I open?" at login / LIST.
CREATE INDEX account_grants_grantee ON account_grants (grantee_account_id);

-- A bookable resource (room, vehicle, equipment) is an account too: its calendar holds the
-- bookings and kite-freebusy reads it like anyone's. The columns are its booking policy.
CREATE TABLE resources (
  account_id          bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
  kind                text NOT NULL CHECK (kind IN ('room', 'vehicle', 'equipment')),
  capacity            integer NULL CHECK (capacity > 0),  -- people; NULL = not applicable
  location            text NOT NULL DEFAULT '',
  -- 'auto': accept when the policy allows, decline otherwise (first come, first served:
  -- a conflicting request is declined). 'moderated': the delegate decides.
  booking_mode        text NOT NULL DEFAULT 'auto' CHECK (booking_mode IN ('auto', 'moderated')),
  max_duration        interval NULL CHECK (max_duration > interval '0'),          -- NULL = no limit
  booking_window      interval NULL CHECK (booking_window > interval '0'),        -- how far ahead; NULL = no limit
  min_notice          interval NOT NULL DEFAULT interval '0' CHECK (min_notice >= interval '0'),
  allow_conflicts     boolean NOT NULL DEFAULT false,
  -- Working hours in the resource's time zone: {"mon": [["09:00","17:00"]], "tue": ...};
  -- NULL = always bookable.
  working_hours       jsonb NULL,
  timezone            text NOT NULL DEFAULT 'UTC',  -- IANA name
  -- Notified of every booking (and decides them when moderated).
  delegate_account_id bigint NULL REFERENCES accounts (id) ON DELETE SET NULL,
  -- When true, only the accounts in resource_bookers may book; otherwise anyone local.
  restricted          boolean NOT NULL DEFAULT false,
  CHECK (booking_mode = 'auto' OR delegate_account_id IS NOT NULL)
);

CREATE TABLE resource_bookers (
  resource_account_id bigint NOT NULL REFERENCES resources (account_id) ON DELETE CASCADE,
  account_id          bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  PRIMARY KEY (resource_account_id, account_id)
);

-- Per-device passwords for clients that cannot do the main login (and revocable alone).
CREATE TABLE app_passwords (
  account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  id            bigserial,
  label         text NOT NULL CHECK (label <> ''),
  password_hash text NOT NULL,  -- argon2id PHC string
  -- Protocols it opens: subset of imap, pop3, smtp, caldav.
  scopes        text[] NOT NULL DEFAULT '{imap,pop3,smtp,caldav}'
                CHECK (scopes <@ ARRAY['imap', 'pop3', 'smtp', 'caldav']::text[]),
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz NULL,
  expires_at    timestamptz NULL,
  PRIMARY KEY (account_id, id),
  UNIQUE (account_id, label)
);
