-- 0015 where each stored message's header block ends, so IMAP can read just the header
-- (FETCH BODY[HEADER...], SEARCH on header fields, SORT) as a slice of the body: PostgreSQL
-- then decompresses only the start of a compressed body instead of all of it.
--
-- header_end: position(CRLF CRLF in body), 1-based, as PostgreSQL's position() gives it (the
-- header block is the first header_end + 3 bytes); 0 when the body has no CRLF CRLF (all of it
-- is header, or its lines end in bare LF); NULL for rows stored before this migration (the
-- reader computes it then). Set by a trigger on insert, whoever inserts: kite-delivery,
-- kite-imap's APPEND, an import.
ALTER TABLE messages ADD COLUMN header_end integer NULL CHECK (header_end IS NULL OR header_end >= 0);

CREATE FUNCTION kite_messages_header_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.header_end := position('\x0d0a0d0a'::bytea in NEW.body);
  RETURN NEW;
END
$$;

CREATE TRIGGER messages_header_end BEFORE INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION kite_messages_header_end();
