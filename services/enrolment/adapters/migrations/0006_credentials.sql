-- Verifiable honours (docs/decisions/0012-open-badges.md): the street's signing keys and the
-- Open Badges credentials issued from the passport's honours.

-- Signing keys: the newest signs, every one is published (GET /v1/.well-known/jwks.json) so that
-- credentials signed before a rotation keep verifying. The private key is PKCS#8 PEM encrypted
-- with a passphrase derived from the service's secrets, never stored in clear.
CREATE TABLE IF NOT EXISTS credential_keys (
    kid         text PRIMARY KEY,
    public_jwk  jsonb NOT NULL,
    private_pem text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- One credential per honour and resident (a family's honour gives each named resident theirs),
-- signed once and served as stored. Its status bit is not stored: the status list sets the bits
-- of the credentials whose honour passport_honours holds as revoked (the passport consumer
-- applies each revocation exactly once), so the list can never disagree with the passport.
CREATE SEQUENCE IF NOT EXISTS credential_issue_seq MINVALUE 0 START 0;
CREATE TABLE IF NOT EXISTS issued_credentials (
    honour_id     text NOT NULL,
    resident_id   text NOT NULL,
    credential_id text NOT NULL UNIQUE,
    status_list   text NOT NULL,
    status_index  int NOT NULL,
    kid           text NOT NULL REFERENCES credential_keys (kid),
    issued_at     timestamptz NOT NULL,
    token         text NOT NULL,
    PRIMARY KEY (honour_id, resident_id),
    UNIQUE (status_list, status_index)
);
CREATE INDEX IF NOT EXISTS issued_credentials_resident ON issued_credentials (resident_id);
