-- 0012 caldav: calendar sharing, plain WebDAV resources under a calendar home, and dead
-- properties (WebDAV PROPPATCH of properties Kite does not interpret).
--
-- Sharing: the owner grants one calendar to an account or to a list (its members, through
-- nested lists and aliases, resolved at request time like resource bookers). access:
--   'read'        see the calendar and its objects;
--   'read-write'  also create, change and delete objects (not the calendar itself);
--   'freebusy'    only free/busy (CALDAV:free-busy-query, kite-freebusy), never the objects.
-- Delegation of all of an owner's calendars goes through account_grants (0002): may_write
-- = read-write on every calendar, may_read = read.
CREATE TABLE calendar_shares (
  owner_account_id   bigint NOT NULL,
  calendar_id        bigint NOT NULL,
  id                 bigserial,
  grantee_account_id bigint NULL REFERENCES accounts (id) ON DELETE CASCADE,
  grantee_list_id    bigint NULL REFERENCES lists (id) ON DELETE CASCADE,
  access             text NOT NULL CHECK (access IN ('read', 'read-write', 'freebusy')),
  created_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner_account_id, calendar_id, id),
  FOREIGN KEY (owner_account_id, calendar_id) REFERENCES calendars (account_id, id) ON DELETE CASCADE,
  CHECK ((grantee_account_id IS NULL) <> (grantee_list_id IS NULL))
);
CREATE UNIQUE INDEX calendar_shares_one_account ON calendar_shares (owner_account_id, calendar_id, grantee_account_id)
  WHERE grantee_account_id IS NOT NULL;
CREATE UNIQUE INDEX calendar_shares_one_list ON calendar_shares (owner_account_id, calendar_id, grantee_list_id)
  WHERE grantee_list_id IS NOT NULL;
CREATE INDEX calendar_shares_grantee ON calendar_shares (grantee_account_id) WHERE grantee_account_id IS NOT NULL;
CREATE INDEX calendar_shares_list ON calendar_shares (grantee_list_id) WHERE grantee_list_id IS NOT NULL;

-- Plain WebDAV collections (MKCOL without a body) and non-calendar resources under a
-- calendar home, e.g. what WebDAV clients and conformance suites (litmus) create. path is
-- relative to the home, segments separated by '/', no leading or trailing '/'; the first
-- segment never names a calendar (the server checks). Not part of free/busy or scheduling.
CREATE TABLE dav_resources (
  account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  path          text NOT NULL CHECK (path <> '' AND left(path, 1) <> '/' AND right(path, 1) <> '/'),
  is_collection boolean NOT NULL,
  body          bytea NOT NULL DEFAULT '',
  content_type  text NOT NULL DEFAULT '',
  etag          text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, path)
);

-- Dead properties of a resource (dav_resources path, or a calendar's uri): the property
-- element as the client sent it, namespace declarations included.
CREATE TABLE dav_properties (
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  path       text NOT NULL,
  namespace  text NOT NULL,
  name       text NOT NULL,
  xml        text NOT NULL,
  PRIMARY KEY (account_id, path, namespace, name)
);
