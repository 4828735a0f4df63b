-- Erasure requests (docs/decisions/0010-erasure.md): who asked, who approved, why, when. The
-- resident appears only as the pseudonym their rows were given, never by card number, so the
-- log outlives the resident. Per-service completion: each service's erasure_receipts (shared 0005).
CREATE TABLE IF NOT EXISTS erasure_log (
    request_id    uuid        PRIMARY KEY,
    reason        text        NOT NULL,
    requested_by  text        NOT NULL,
    approved_by   text        NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    erased_rows   integer     NOT NULL
);
