-- The district view (docs/decisions/0022-district-view.md): the latest index each street published
-- on its `scoring.index` topic, per community and for the street (`street`). Written only by a
-- scoring instance in district mode (SCORING_DISTRICT_STREETS); an update computed earlier than the
-- row kept is ignored, so redelivery and reordering are harmless.
CREATE TABLE IF NOT EXISTS district_index (
    street       text NOT NULL,
    community_id text NOT NULL,
    total        double precision NOT NULL,
    aspects      jsonb NOT NULL,
    computed_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (street, community_id)
);
