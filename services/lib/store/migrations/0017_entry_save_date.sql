-- 0017 the save date of each mailbox entry (IMAP SAVEDATE, RFC 8514): when the entry was
-- saved into its current mailbox, by APPEND, COPY, MOVE or delivery. Unlike internal_date,
-- which APPEND may set and COPY keeps, it is always the server's clock at the save.
--
-- saved_at: NULL for entries stored before this migration (FETCH SAVEDATE answers NIL for
-- them, RFC 8514 3). Added without a default first, so existing rows stay NULL, then given
-- now() as default, so every INSERT (kite-delivery's Filer, kite-imap's APPEND, COPY and MOVE)
-- sets it without naming it: no statement and no grant changes.
ALTER TABLE mailbox_entries ADD COLUMN saved_at timestamptz NULL;
ALTER TABLE mailbox_entries ALTER COLUMN saved_at SET DEFAULT now();
