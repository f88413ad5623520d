-- 0005 auth: SCRAM-SHA-256 secrets, the shared key that protects SASL state tokens, and a
-- lookup column that keeps app-password checks to one argon2id verification.

-- RFC 5802/7677 stored secret in PostgreSQL's format:
--   SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>
-- NULL for accounts whose password was set before this migration (and for principals that
-- never log in): SCRAM is not offered to them until the password is set again or the user
-- logs in once with PLAIN/LOGIN (kite-auth fills it in then).
ALTER TABLE accounts ADD COLUMN scram_sha256 text NULL
  CHECK (scram_sha256 IS NULL OR scram_sha256 LIKE 'SCRAM-SHA-256$%');

-- Secrets shared by every kite-auth replica, created on first use from getrandom
-- (INSERT ... ON CONFLICT DO NOTHING, so concurrent replicas agree on one value).
-- name 'sasl_state': HMAC-SHA-256 key of the SASL state tokens (so a SCRAM exchange may
-- be continued on any replica and the token cannot be forged by the caller).
CREATE TABLE auth_secrets (
  name       text PRIMARY KEY CHECK (name <> ''),
  secret     bytea NOT NULL CHECK (length(secret) >= 32),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- First 8 hex digits of SHA-256 of the normalised app password: only rows whose lookup
-- matches are verified with argon2id. 32 bits of an 80-bit random secret reveal nothing
-- useful; NULL rows (none are written) are always verified.
ALTER TABLE app_passwords ADD COLUMN lookup text NULL CHECK (lookup ~ '^[0-9a-f]{8}$');
CREATE INDEX app_passwords_lookup ON app_passwords (account_id, lookup);
