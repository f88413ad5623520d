-- 0015 each stored message's header block beside its body, so IMAP reads just the header
-- (FETCH BODY[HEADER...], SEARCH on header fields, SORT) from a small column stored in the
-- row, instead of fetching and decompressing the start of a body kept out of line (TOAST).
--
-- header: the body up to and including its first CRLF CRLF. NULL when the body has none (all
-- of it is header, or its lines end in bare LF) and for rows stored before this migration:
-- readers then take the start of the body. Set by a trigger on insert, whoever inserts
-- (kite-delivery, kite-imap's APPEND, an import). It costs the header's size once more per
-- stored message (bodies are shared by all the entries that hold them).
ALTER TABLE messages ADD COLUMN header bytea NULL;
-- Kept in the row (compressed when large) rather than out of line: it is read often and whole.
ALTER TABLE messages ALTER COLUMN header SET STORAGE MAIN;

CREATE FUNCTION kite_messages_header() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  p integer := position('\x0d0a0d0a'::bytea in NEW.body);
BEGIN
  NEW.header := CASE WHEN p > 0 THEN substring(NEW.body from 1 for p + 3) END;
  RETURN NEW;
END
$$;

CREATE TRIGGER messages_header BEFORE INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION kite_messages_header();
