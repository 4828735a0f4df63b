-- Evidence files (佐证材料) of assessed indicators (docs/decisions/0013-evidence-files.md): the metadata in
-- one table, the bytes in another, so listing evidence or linking it from the index never reads a file.
CREATE TABLE IF NOT EXISTS evidence_files (
    evidence_id           uuid PRIMARY KEY,
    indicator_id          text NOT NULL,
    community_id          text NOT NULL,  -- a community, or 'street'
    rectification_task_id uuid REFERENCES rectification_tasks (task_id),
    assessment_id         text REFERENCES assessments (assessment_id),
    filename              text NOT NULL,  -- sanitised (domain/evidence.py sanitise_filename)
    content_type          text NOT NULL,  -- from the file's magic bytes, never the client's claim
    size                  bigint NOT NULL CHECK (size > 0),
    sha256                text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    note                  text NOT NULL DEFAULT '',
    uploaded_by           text NOT NULL,
    uploader_role         text NOT NULL,
    uploaded_at           timestamptz NOT NULL,
    -- Removal is soft: the record (and its bytes) stay for the audit trail, downloads stop.
    removed_at            timestamptz,
    removed_by            text,
    removal_reason        text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS evidence_files_by_indicator
    ON evidence_files (community_id, indicator_id, uploaded_at DESC) WHERE removed_at IS NULL;

CREATE TABLE IF NOT EXISTS evidence_contents (
    evidence_id uuid PRIMARY KEY REFERENCES evidence_files (evidence_id),
    content     bytea NOT NULL
);
-- PDF, PNG, JPEG and the ZIP-based office formats are compressed already: out of line, uncompressed,
-- saves PostgreSQL a pglz attempt per file that would not shrink it.
ALTER TABLE evidence_contents ALTER COLUMN content SET STORAGE EXTERNAL;
