-- 0009 quarantine: kite-mta marks a spooled message whose DMARC check failed with a
-- quarantine disposition (RFC 7489 6.6.4); kite-delivery then files it into the
-- recipient's Junk mailbox (special-use \Junk, RFC 6154) instead of INBOX, creating that
-- mailbox when the account has none. A constant default: no table rewrite.
ALTER TABLE spool ADD COLUMN quarantine boolean NOT NULL DEFAULT false;
