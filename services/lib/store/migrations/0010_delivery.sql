-- 0010 delivery: what kite-delivery needs on top of the mailbox tables (0001).
--
--  * quota_usage.warned: the quota warning went out for the current crossing of the warning
--    threshold; cleared when usage is found below it again, so the next crossing warns again.
--  * messages.structure: the MIME structure parsed once at delivery (lib/mime storage blob,
--    versioned), so IMAP answers ENVELOPE, BODYSTRUCTURE and BODY[section] without parsing.
--    NULL for bodies stored before this migration: readers parse them on demand.

ALTER TABLE quota_usage
  ADD COLUMN warned boolean NOT NULL DEFAULT false;

ALTER TABLE messages
  ADD COLUMN structure bytea NULL;
