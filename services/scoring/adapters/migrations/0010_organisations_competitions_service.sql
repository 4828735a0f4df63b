-- Organisations and units registered with their community (party organisations, enterprises, other
-- units, social organisations): the recipients of the organisation honours (domain/organisations.py).
CREATE TABLE IF NOT EXISTS organisations (
    organisation_id text PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('party_organisation', 'enterprise', 'unit', 'social_organisation')),
    community_id    text NOT NULL,
    name_zh         text NOT NULL,
    name_en         text NOT NULL,
    registered_by   text NOT NULL,
    registered_role text NOT NULL,
    registered_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS organisations_community ON organisations (community_id, kind);

-- Knowledge competitions as the street sets them up: results must name one, a round of it and a
-- rank within its places (domain/competitions.py).
CREATE TABLE IF NOT EXISTS competitions (
    competition_id text PRIMARY KEY,
    name_zh        text NOT NULL,
    name_en        text NOT NULL,
    rounds         int NOT NULL CHECK (rounds BETWEEN 1 AND 20),
    places         int NOT NULL CHECK (places BETWEEN 1 AND 100),
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL
);

-- Volunteer service hours (志愿服务时长), apart from teaching hours: recorded by an operator or the
-- volunteer, confirmed or rejected by a coordinator; only confirmed rows count (domain/volunteering.py).
CREATE TABLE IF NOT EXISTS volunteer_service (
    service_id    uuid PRIMARY KEY,
    volunteer_id  text NOT NULL,
    venue_id      text,
    session_id    text,
    community_id  text NOT NULL,
    day           date NOT NULL,
    hours         numeric(4, 2) NOT NULL CHECK (hours > 0 AND hours <= 24),
    what          text NOT NULL,
    state         text NOT NULL DEFAULT 'recorded' CHECK (state IN ('recorded', 'confirmed', 'rejected')),
    recorded_by   text NOT NULL,
    recorded_role text NOT NULL,
    recorded_at   timestamptz NOT NULL,
    decided_by    text,
    decided_role  text,
    decided_at    timestamptz,
    reason        text NOT NULL DEFAULT '',
    CHECK ((venue_id IS NULL) <> (session_id IS NULL))
);
CREATE INDEX IF NOT EXISTS volunteer_service_volunteer_day ON volunteer_service (volunteer_id, day);
CREATE INDEX IF NOT EXISTS volunteer_service_community_state ON volunteer_service (community_id, state);
