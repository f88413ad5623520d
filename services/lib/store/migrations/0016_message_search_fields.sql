-- 0016 the decoded From, To, Cc, Bcc and Subject of each stored message, so IMAP SEARCH on
-- them (what clients send most: "from:", "to:", "subject:" boxes) reads a few short values per
-- message instead of every message's header, and parses nothing.
--
-- search_fields: one text[] per field in lib/imap's kStoredSearchFields order (from, to, cc,
-- bcc, subject), each the field's values as IMAP SEARCH sees them (unfolded, RFC 2047 encoded
-- words decoded to UTF-8), kept as text: a two-dimensional array cannot hold lists of
-- different lengths. NULL for rows stored before this migration and for bodies copied without
-- being parsed: SEARCH then reads their header block.
ALTER TABLE messages ADD COLUMN search_fields text[] NULL;
