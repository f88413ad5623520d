-- 0004 calendar: calendar collections, calendar objects (RFC 4791) and the change log behind
-- sync tokens (RFC 6578 sync-collection).
--
-- Sync tokens: each calendar counts its changes in calendars.sync_token. A PUT or DELETE
-- increments it (UPDATE ... RETURNING, in the same transaction as the object change) and
-- appends one calendar_changes row with the new value; a client's token is that number, and
-- sync-collection returns the latest change per uri with token greater than the client's.

CREATE TABLE calendars (
  account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  id           bigserial,
  uri          text NOT NULL CHECK (uri <> '' AND position('/' IN uri) = 0),  -- segment under the calendar home
  -- Regular calendars, and the RFC 6638 scheduling inbox / outbox collections.
  kind         text NOT NULL DEFAULT 'calendar' CHECK (kind IN ('calendar', 'inbox', 'outbox')),
  display_name text NOT NULL DEFAULT '',
  description  text NOT NULL DEFAULT '',
  color        text NULL,         -- Apple calendar-color, e.g. '#3366ccff'
  sort_order   integer NULL,      -- Apple calendar-order
  timezone     text NULL,         -- CALDAV:calendar-timezone (a VCALENDAR with one VTIMEZONE)
  components   text[] NOT NULL DEFAULT '{VEVENT,VTODO}',  -- supported-calendar-component-set
  transparent  boolean NOT NULL DEFAULT false,  -- schedule-calendar-transp: excluded from free/busy
  sync_token   bigint NOT NULL DEFAULT 0,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, id),
  UNIQUE (account_id, uri)
);
-- One scheduling inbox and one outbox per account.
CREATE UNIQUE INDEX calendars_one_inbox_outbox ON calendars (account_id, kind) WHERE kind <> 'calendar';

CREATE TABLE calendar_objects (
  account_id   bigint NOT NULL,
  calendar_id  bigint NOT NULL,
  id           bigserial,
  uri          text NOT NULL CHECK (uri <> '' AND position('/' IN uri) = 0),  -- resource name, e.g. 'abc.ics'
  uid          text NOT NULL,  -- iCalendar UID (RFC 4791 5.3.2.1: unique within a calendar)
  component    text NOT NULL CHECK (component IN ('VEVENT', 'VTODO', 'VJOURNAL', 'VFREEBUSY')),
  ical         text NOT NULL,  -- the raw iCalendar object as stored
  etag         text NOT NULL,  -- strong ETag, quoted form not included
  size         integer NOT NULL CHECK (size >= 0),
  -- Indexed time range covering every instance (recurrences expanded), UTC: the first
  -- instance's start and the last instance's end; last_end NULL = unbounded recurrence;
  -- both NULL = no time (a VTODO without dates) — matches every time-range query.
  first_start  timestamptz NULL,
  last_end     timestamptz NULL,
  is_recurring boolean NOT NULL DEFAULT false,  -- has RRULE/RDATE or overrides: expand on query
  transparent  boolean NOT NULL DEFAULT false,  -- TRANSP:TRANSPARENT (not busy)
  organizer    text NULL CHECK (organizer = lower(organizer)),  -- mailto address, for scheduling
  sequence     integer NOT NULL DEFAULT 0,      -- iTIP SEQUENCE of the master component
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, calendar_id, id),
  UNIQUE (account_id, calendar_id, uri),
  UNIQUE (account_id, calendar_id, uid),
  FOREIGN KEY (account_id, calendar_id) REFERENCES calendars (account_id, id) ON DELETE CASCADE,
  CHECK (last_end IS NULL OR first_start IS NULL OR last_end >= first_start)
);
-- calendar-query time-range and free/busy over one account: overlap is
-- first_start < range_end AND (last_end IS NULL OR last_end > range_start).
CREATE INDEX calendar_objects_range ON calendar_objects (account_id, first_start, last_end);
-- Scheduling: the organiser's or attendee's copy of an event by UID in any calendar.
CREATE INDEX calendar_objects_uid ON calendar_objects (account_id, uid);

CREATE TABLE calendar_changes (
  account_id  bigint NOT NULL,
  calendar_id bigint NOT NULL,
  token       bigint NOT NULL,  -- calendars.sync_token after this change
  uri         text NOT NULL,
  op          text NOT NULL CHECK (op IN ('created', 'modified', 'deleted')),
  changed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, calendar_id, token),
  FOREIGN KEY (account_id, calendar_id) REFERENCES calendars (account_id, id) ON DELETE CASCADE
);
-- Pruning old changes (a token older than the oldest kept change gets valid-sync-token error).
CREATE INDEX calendar_changes_changed_at ON calendar_changes (changed_at);
