-- Erasure completion in one place (docs/decisions/0010-erasure.md, amendment): each service's
-- `resident.erasure_completed` (privacy.erasures), recorded for the status of the request. No
-- resident: the request id ties it to erasure_log.
CREATE TABLE IF NOT EXISTS erasure_completions (
    request_id   uuid        NOT NULL,
    service      text        NOT NULL,
    erased_rows  integer     NOT NULL,
    completed_at timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, service)
);
