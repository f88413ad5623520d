-- 0014 IMAP session state: what exact IMAP replies need on top of the mailbox tables (0001).
--
--  * mailboxes.recent_uid: the \Recent watermark (RFC 3501 2.3.2). A message is \Recent in
--    exactly one session: the first that SELECTs the mailbox (or, already selected, learns of
--    the message) after it arrived. That session raises the watermark to the newest UID it
--    shows and treats the UIDs above the old watermark as \Recent; EXAMINE only reads it.
--    Existing mailboxes start with nothing recent.
--  * subscriptions: names subscribed while no mailbox has them (RFC 3501 6.3.6: a
--    subscription outlives its mailbox; LSUB shows it \Noselect, LIST (SUBSCRIBED) shows it
--    \NonExistent, RFC 5258 3.1). The subscription of an existing mailbox stays
--    mailboxes.subscribed; lib/mailstore moves a name from one to the other on DELETE and
--    back on CREATE or RENAME.
--  * uidvalidity_floors: the highest UIDVALIDITY a deleted mailbox of the account had, so a
--    name deleted and created again within the same second still gets a greater UIDVALIDITY
--    (RFC 3501 2.3.1.1) although the old row is gone.

ALTER TABLE mailboxes
  ADD COLUMN recent_uid bigint NOT NULL DEFAULT 0 CHECK (recent_uid >= 0);
UPDATE mailboxes SET recent_uid = uidnext - 1;

CREATE TABLE subscriptions (
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  name       text NOT NULL CHECK (name <> ''),
  PRIMARY KEY (account_id, name)
);

CREATE TABLE uidvalidity_floors (
  account_id  bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
  uidvalidity bigint NOT NULL CHECK (uidvalidity BETWEEN 1 AND 4294967295)
);
