-- 0018 IMAP METADATA (RFC 5464): annotations on a mailbox, or on the server (mailbox_id 0:
-- the account's server entries). /shared entries (user_id 0) are one value that everyone
-- with access to the mailbox sees; /private entries belong to the user who set them (a
-- member of a shared mailbox has private entries on it of their own). Names are stored
-- lower-cased (they compare case-insensitively). lib/mailstore deletes a mailbox's entries
-- with the mailbox; an account's go with the account.
CREATE TABLE mailbox_metadata (
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  mailbox_id bigint NOT NULL CHECK (mailbox_id >= 0),
  user_id    bigint NOT NULL CHECK (user_id >= 0),
  name       text NOT NULL CHECK (name LIKE '/private/%' OR name LIKE '/shared/%'),
  value      bytea NOT NULL,
  PRIMARY KEY (account_id, mailbox_id, user_id, name)
);
