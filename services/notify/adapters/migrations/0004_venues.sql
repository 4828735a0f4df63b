-- Venue names from activities.catalogue, for change notices ("new venue: ...").
CREATE TABLE IF NOT EXISTS venues (
    venue_id    text PRIMARY KEY,
    name_zh     text NOT NULL,
    name_en     text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
