-- 0003 rules: Sieve scripts (RFC 5228, managed like ManageSieve RFC 5804) and the
-- vacation reply log (RFC 5230 :days / :handle).

CREATE TABLE sieve_scripts (
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  name       text NOT NULL CHECK (name <> ''),
  script     text NOT NULL,
  active     boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, name)
);
-- At most one active script per account (ManageSieve SETACTIVE).
CREATE UNIQUE INDEX sieve_scripts_one_active ON sieve_scripts (account_id) WHERE active;

-- Who was already answered by a vacation action, so each sender gets at most one reply per
-- :days period and :handle. The delivery agent inserts (ON CONFLICT updates when expired).
CREATE TABLE vacation_replies (
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  handle     text NOT NULL,  -- :handle, or a digest of the reason/subject when absent
  sender     text NOT NULL CHECK (sender = lower(sender)),
  replied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, handle, sender)
);
CREATE INDEX vacation_replies_replied_at ON vacation_replies (replied_at);  -- pruning
