-- Courses as learnt from activities.catalogue events (activities owns them).
CREATE TABLE IF NOT EXISTS courses (
    course_id   text PRIMARY KEY,
    title_zh    text NOT NULL,
    title_en    text NOT NULL,
    theme       text NOT NULL,
    audiences   text[] NOT NULL DEFAULT '{}',
    cancelled   boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
