-- Erasure of a resident (docs/decisions/0010-erasure.md).
-- A compacted topic forgets a key only through a tombstone: a record with a null value, which the
-- relay publishes from an outbox row without payload.
ALTER TABLE outbox ALTER COLUMN payload DROP NOT NULL;

-- Each service's receipt that it has erased a resident: the request id only, never the card
-- number, so the receipt outlives the resident.
CREATE TABLE IF NOT EXISTS erasure_receipts (
    request_id  uuid        PRIMARY KEY,
    erased_rows integer     NOT NULL,
    erased_at   timestamptz NOT NULL DEFAULT now()
);

-- The access audit stays append-only, except that erasure replaces the resident's card number by
-- the erasure request's pseudonym (and nothing else): who accessed what, when and why stays.
CREATE OR REPLACE FUNCTION access_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.resident_id LIKE 'erased:%'
       AND (NEW.id, NEW.at, NEW.actor, NEW.actor_role, NEW.method, NEW.route, NEW.purpose)
           IS NOT DISTINCT FROM (OLD.id, OLD.at, OLD.actor, OLD.actor_role, OLD.method, OLD.route, OLD.purpose)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'access_audit is append-only';
END
$$;
