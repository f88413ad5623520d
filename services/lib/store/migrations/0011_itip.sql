-- 0011 iTIP hand-over: calendar invitations that arrive by mail (iMIP, RFC 6047) travel from
-- kite-delivery to kite-caldav (kite.scheduling.v1.Scheduling/DeliverItip) exactly once.
--
-- kite-delivery inserts into itip_outbox in the same transaction as the mailbox store
-- (ON CONFLICT DO NOTHING: a redelivered queue entry adds nothing); its forwarder thread
-- claims due rows (FOR UPDATE SKIP LOCKED, so several replicas share them), calls
-- kite-caldav, and deletes the row once kite-caldav answered, or pushes next_attempt_at back
-- (exponential backoff) while kite-caldav is unreachable.
-- kite-caldav records every (spool id, recipient, part) it processed in itip_received in the
-- same transaction as the calendar change, so a repeated call answers DUPLICATE.

CREATE TABLE itip_outbox (
  account_id      bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,  -- the recipient's
  spool_id        bigint NOT NULL,
  recipient       text NOT NULL CHECK (recipient = lower(recipient)),
  part            integer NOT NULL CHECK (part >= 0),  -- index of the iTIP part in the message
  sender          text NOT NULL CHECK (sender = lower(sender)),  -- envelope sender; '' for <>
  method          text NOT NULL CHECK (method IN ('REQUEST', 'REPLY', 'ADD', 'CANCEL', 'REFRESH', 'COUNTER',
                                                  'DECLINECOUNTER')),
  icalendar       bytea NOT NULL,  -- the text/calendar part, transfer-decoded
  attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, spool_id, recipient, part)
);
-- The forwarder's pick: due rows, oldest first.
CREATE INDEX itip_outbox_due ON itip_outbox (next_attempt_at);

CREATE TABLE itip_received (
  account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  spool_id    bigint NOT NULL,
  recipient   text NOT NULL,
  part        integer NOT NULL CHECK (part >= 0),
  method      text NOT NULL,
  uid         text NULL,
  outcome     text NOT NULL CHECK (outcome IN ('applied', 'ignored', 'invalid')),
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, spool_id, recipient, part)
);
-- Pruning old keys (the spool id of a message never comes back after its queue lifetime).
CREATE INDEX itip_received_received_at ON itip_received (received_at);
