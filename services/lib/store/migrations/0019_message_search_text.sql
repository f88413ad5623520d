-- 0019 IMAP SEARCH on text in PostgreSQL: each stored message's header fields and text, folded
-- the way IMAP compares them, with trigram indexes, so SEARCH FROM/TO/CC/BCC/SUBJECT/BODY/TEXT
-- send PostgreSQL a pattern and get back UIDs, instead of moving every message to kite-imap.
--
-- Written by kite-delivery and APPEND when the body is stored (lib/imap/search_text.h says the
-- format): both are lib/imap's FoldCase of the decoded text (RFC 2047 words, charsets and
-- transfer encodings undone), so matching is a byte comparison (LIKE with escaped wildcards, a
-- regular expression with escaped punctuation) and never the database's lower() or collation.
-- search_header: the From, To, Cc, Bcc and Subject values, each behind a U+0001 mark and a tag.
-- search_text: the decoded header, a U+0001 mark, the decoded text parts; NULL past 256 KiB.
-- NULL for rows stored before this migration and for text that cannot be stored (a U+0001 in
-- it, invalid UTF-8): SEARCH reads those messages as before.
--
-- pg_trgm ships with PostgreSQL (Debian: postgresql-contrib, part of the server package since
-- 10) and is a trusted extension (13+): the owner of Kite's tables may create it when it has
-- CREATE on the database; otherwise an administrator runs this line once beforehand.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE messages ADD COLUMN search_header text NULL, ADD COLUMN search_text text NULL;

-- Cost, per stored message (bodies are shared by all the entries that hold them): the header
-- values once more (about 100-300 bytes) and the decoded text once more (compressed by TOAST),
-- plus the two trigram indexes, which are each about as large as the text they index, or larger
-- for short values (docs/performance.md, "Issue 18, second round", has figures).
CREATE INDEX messages_search_header_trgm ON messages USING gin (search_header gin_trgm_ops);
CREATE INDEX messages_search_text_trgm ON messages USING gin (search_text gin_trgm_ops);
