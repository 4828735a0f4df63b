-- Who read or changed which resident's data through the HTTP API (shared/http/audit.py): one row
-- per access by an operator, assessor, community worker or venue staff, written before the data
-- is served. Append-only: rows are never updated; they are deleted only when older than the
-- audit's retention (a DELETE by the retention job), never one by one.
CREATE TABLE IF NOT EXISTS access_audit (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    actor_role  text        NOT NULL,
    method      text        NOT NULL,
    route       text        NOT NULL,
    resident_id text        NOT NULL,
    purpose     text
);
CREATE INDEX IF NOT EXISTS access_audit_resident ON access_audit (resident_id, at);

CREATE OR REPLACE FUNCTION access_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access_audit is append-only';
END
$$;
DROP TRIGGER IF EXISTS access_audit_no_update ON access_audit;
CREATE TRIGGER access_audit_no_update BEFORE UPDATE ON access_audit
    FOR EACH ROW EXECUTE FUNCTION access_audit_append_only();
