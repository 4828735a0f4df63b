-- Questionnaires (问卷) and session satisfaction (满意度): docs/decisions/0016-surveys-and-satisfaction.md.
-- A survey with its questions (JSON as checked by domain/surveys.py) and its audience.
CREATE TABLE IF NOT EXISTS surveys (
    survey_id       text PRIMARY KEY,
    title_zh        text NOT NULL,
    title_en        text NOT NULL,
    questions       jsonb NOT NULL,
    community_ids   text[] NOT NULL DEFAULT '{}',
    audience_groups text[] NOT NULL DEFAULT '{}',
    everyone        boolean NOT NULL DEFAULT false,
    closes_at       timestamptz,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- One answer set per resident per survey (the primary key is the once-only rule); the community
-- and audience group the resident had when answering, for the results per community.
CREATE TABLE IF NOT EXISTS survey_responses (
    survey_id      text NOT NULL REFERENCES surveys(survey_id),
    resident_id    text NOT NULL,
    community_id   text NOT NULL,
    audience_group text NOT NULL,
    answers        jsonb NOT NULL,
    answered_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (survey_id, resident_id)
);
CREATE INDEX IF NOT EXISTS survey_responses_resident ON survey_responses(resident_id);

-- One satisfaction rating per resident per session attended (primary key: the once-only rule).
-- community_id is the session's (its venue's), theme its course's, as the index and the needs
-- ranking count them.
CREATE TABLE IF NOT EXISTS session_ratings (
    session_id   text NOT NULL,
    resident_id  text NOT NULL,
    rating_id    text NOT NULL UNIQUE,
    course_id    text NOT NULL,
    community_id text NOT NULL,
    theme        text,
    score        smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment      text NOT NULL DEFAULT '',
    rated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, resident_id)
);
CREATE INDEX IF NOT EXISTS session_ratings_resident ON session_ratings(resident_id);
CREATE INDEX IF NOT EXISTS session_ratings_community ON session_ratings(community_id, rated_at);
