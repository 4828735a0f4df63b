-- Satisfaction ratings of sessions (满意度, activities' session.rated events): the input of the
-- satisfaction indicator (docs/indicators.md). No resident: the index counts ratings, not people.
-- `day` is the session's day (Asia/Shanghai), so a replay files every rating where the live run did.
CREATE TABLE IF NOT EXISTS session_ratings (
    rating_id    text PRIMARY KEY,
    session_id   text NOT NULL,
    community_id text NOT NULL,
    theme        text,
    score        smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    day          date NOT NULL
);
CREATE INDEX IF NOT EXISTS session_ratings_day ON session_ratings(day);
