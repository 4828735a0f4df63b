-- Distinct attendees as the last day each resident attended (per home community): the 4-week and
-- 12-month counts become plain counts instead of DISTINCT over one row per resident and day.
CREATE TABLE IF NOT EXISTS attendees (
    resident_id    text NOT NULL,
    community_id   text NOT NULL,
    last_day       date NOT NULL,
    audience_group text,
    PRIMARY KEY (resident_id, community_id)
);
-- Audience groups reached: last day each group was seen per community (and `street`).
CREATE TABLE IF NOT EXISTS audience_seen (
    community_id   text NOT NULL,
    audience_group text NOT NULL,
    last_day       date NOT NULL,
    PRIMARY KEY (community_id, audience_group)
);
INSERT INTO attendees(resident_id, community_id, last_day, audience_group)
SELECT resident_id, community_id, max(day), max(audience_group) FROM attendee_days GROUP BY resident_id, community_id
ON CONFLICT DO NOTHING;
INSERT INTO audience_seen(community_id, audience_group, last_day)
SELECT CASE WHEN GROUPING(community_id) = 1 THEN 'street' ELSE community_id END, audience_group, max(last_day)
FROM attendees WHERE audience_group IS NOT NULL
GROUP BY GROUPING SETS ((community_id, audience_group), (audience_group))
ON CONFLICT DO NOTHING;
DROP TABLE attendee_days;
