-- 0013 free/busy: a person's working hours (kite-freebusy reports the time outside them as
-- BUSY-UNAVAILABLE, as it does for resources from resources.working_hours, 0002) and the
-- secret tokens of the external free/busy URL (https://<host>:8443/freebusy/<token>.ifb)
-- that a user hands to partners in other organisations.

CREATE TABLE calendar_settings (
  account_id    bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
  -- Same shape as resources.working_hours: {"mon": [["09:00","17:00"]], "tue": ...}, local
  -- time in `timezone`; NULL = no working hours (nothing is reported as unavailable).
  working_hours jsonb NULL CHECK (working_hours IS NULL OR jsonb_typeof(working_hours) = 'object'),
  timezone      text NOT NULL DEFAULT 'UTC',  -- IANA name; also the zone of all-day events
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One token per account (creating a new one replaces the old). Only the SHA-256 of the token
-- is stored: a database dump does not reveal the URLs. The token itself is shown once, by
-- `kitectl freebusy token create`.
CREATE TABLE freebusy_tokens (
  account_id bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
  token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now()
);
