-- 0008 outbound: what the outbound relay of kite-mta needs on top of the spool (0001).
--
--  * DSN parameters (RFC 3461) given at MAIL (RET, ENVID) and RCPT (NOTIFY, ORCPT), so
--    bounces and delay warnings honour them and the relay passes them on to the next hop.
--  * warned_at: when a delay warning (RFC 3464 Action: delayed) went out, so it goes once.
--  * last_mx: the host that gave the last answer, for the DSN's Remote-MTA and operators.

ALTER TABLE spool
  ADD COLUMN dsn_ret   text NULL CHECK (dsn_ret IN ('FULL', 'HDRS')),  -- NULL: not given
  ADD COLUMN dsn_envid text NULL;                                      -- xtext-decoded ENVID

ALTER TABLE spool_recipients
  -- NULL: not given; 'NEVER' or a comma list of SUCCESS, FAILURE, DELAY (upper case).
  ADD COLUMN dsn_notify text NULL,
  -- ORCPT as given: "addr-type;xtext-decoded address", e.g. 'rfc822;user@example.org'.
  ADD COLUMN dsn_orcpt  text NULL,
  ADD COLUMN warned_at  timestamptz NULL,
  ADD COLUMN last_mx    text NULL;

-- MTA-STS (RFC 8461) policies cached per policy domain, and TLS results per destination
-- domain and day for TLS-RPT (RFC 8460) reports and operators.
CREATE TABLE mta_sts_policies (
  domain     text PRIMARY KEY CHECK (domain = lower(domain)),
  policy_id  text NOT NULL,
  mode       text NOT NULL CHECK (mode IN ('enforce', 'testing', 'none')),
  mx         text[] NOT NULL,
  max_age    integer NOT NULL CHECK (max_age >= 0),
  fetched_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);

CREATE TABLE tls_results (
  day          date NOT NULL,
  domain       text NOT NULL CHECK (domain = lower(domain)),
  mx_host      text NOT NULL,
  result       text NOT NULL,  -- 'success', 'starttls-not-supported', 'certificate-host-mismatch', ...
  policy_type  text NOT NULL DEFAULT 'no-policy-found' CHECK (policy_type IN ('sts', 'no-policy-found')),
  count        bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (day, domain, mx_host, result, policy_type)
);
