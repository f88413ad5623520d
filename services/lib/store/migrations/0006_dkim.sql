-- 0006 dkim: DKIM signing keys per hosted domain (RFC 6376; Ed25519 per RFC 8463).
--
-- A domain may hold several keys at once: an RSA and an Ed25519 key signed side by side
-- (RFC 8463 section 3 recommends both while verifiers catch up), and during a rotation the
-- new key is published in DNS before the old one is switched off. Every active key signs.
--
-- public_key is exactly what goes after "p=" in the selector's TXT record: base64 of the DER
-- SubjectPublicKeyInfo for RSA, base64 of the raw 32-byte key for Ed25519 (RFC 8463 sec. 4).
-- private_key_pem is PKCS#8 PEM ("BEGIN PRIVATE KEY"). It lives beside the password hashes,
-- so the database's access control protects both.
CREATE TABLE dkim_keys (
  domain_id       bigint NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
  -- RFC 6376 3.1: selector = sub-domain *("." sub-domain); kept lowercase.
  selector        text NOT NULL
                  CHECK (length(selector) <= 253
                         AND selector ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$'),
  algorithm       text NOT NULL CHECK (algorithm IN ('rsa2048', 'ed25519')),
  private_key_pem text NOT NULL,
  public_key      text NOT NULL CHECK (public_key ~ '^[A-Za-z0-9+/]+=*$'),
  active          boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (domain_id, selector)
);
