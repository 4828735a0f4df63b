-- Residents' sign-in with a one-time code (docs/decisions/0017-resident-sign-in.md). Neither
-- phones nor codes are stored in clear: both are HMAC-SHA256 under the street's sign-in key.

-- The live code of a phone (one: a new request replaces it). A phone nobody registered gets a
-- row too, with a code nobody receives, so that every answer is the same as for a resident's.
CREATE TABLE IF NOT EXISTS sign_in_codes (
    phone_hash   bytea PRIMARY KEY,
    resident_ids text[] NOT NULL DEFAULT '{}',
    code_hash    bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    attempts     int NOT NULL DEFAULT 0,
    used_at      timestamptz
);
CREATE INDEX IF NOT EXISTS sign_in_codes_expires ON sign_in_codes (expires_at);
CREATE INDEX IF NOT EXISTS sign_in_codes_residents ON sign_in_codes USING gin (resident_ids);

-- Code requests of the last hour, per phone (its hash) and per client address (its hash), for
-- the rate limits; older rows are deleted as requests come.
CREATE TABLE IF NOT EXISTS sign_in_requests (
    bucket       bytea NOT NULL,
    requested_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS sign_in_requests_bucket ON sign_in_requests (bucket, requested_at);

-- Finding a resident by phone as written at registration, with or without separators.
CREATE INDEX IF NOT EXISTS residents_phone_digits ON residents (regexp_replace(phone, '[ -]', '', 'g'))
    WHERE phone IS NOT NULL;
