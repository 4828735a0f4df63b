"""SQL for the scoring service's own tables; the index also reads the catalogue read model
(`courses`, `venues`, `sessions`, written by shared/catalogue).

Every statement uses unqualified table names: the rebuild runs the same code on a connection whose
search_path is the shadow schema.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from services.scoring.domain import honours, selection
from services.scoring.domain.attendance import Aggregates, AttendanceState
from services.scoring.domain.honours import HonourRules
from services.scoring.domain.indicators import SATISFIED_FROM, MetricValue
from services.scoring.domain.street import STREET
from shared.db.offsets import OffsetTable
from shared.events.catalogue import AudienceGroup
from shared.rebuild import CheckpointTarget

# Tables a rebuild recreates from the topics and swaps in (order matters for nothing).
PROJECTION_TABLES = (
    "courses", "venues", "sessions", "residents", "enrolments", "need_votes", "attendance",
    "attendance_daily", "attendees", "audience_seen", "resident_minutes", "consumer_offsets", "inbox",
    "late_attendance", "session_ratings",
)  # fmt: skip

# Held shared by every live batch and exclusively by the rebuild while it swaps tables in.
PROJECTION_LOCK = 0x5C0_12E
# One rebuild (or checkpoint) of the index at a time.
REBUILD_LOCK = 0x5C0_12F
# Held exclusively while a checkpoint is copied, shared by an erasure of the checkpoint's rows.
CHECKPOINT_LOCK = 0x5C0_130
CHECKPOINT_SCHEMA = "scoring_checkpoint"  # shared/rebuild.py checkpoint_schema("scoring")


# --- offsets -----------------------------------------------------------------------------------


async def lock_projections_shared(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", PROJECTION_LOCK)


# Offsets stored with the aggregates (shared/db/offsets.py): read, locked per partition, stored.
OFFSETS = OffsetTable("consumer_offsets", "offset")
stored_offsets = OFFSETS.read
lock_offsets = OFFSETS.lock
store_offsets = OFFSETS.store

# What a checkpoint of the index copies (shared/rebuild.py; the rebuild's Projection has the same).
CHECKPOINTED = CheckpointTarget("scoring", PROJECTION_TABLES, REBUILD_LOCK, stored_offsets, CHECKPOINT_LOCK)


# --- attendance (hot path) ---------------------------------------------------------------------


async def residents_for(conn: asyncpg.Connection, resident_ids: list[str]) -> dict[str, tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT resident_id, community_id, audience_group FROM residents WHERE resident_id = ANY($1::text[])",
        resident_ids,
    )
    return {r["resident_id"]: (r["community_id"], r["audience_group"]) for r in rows}


async def attendance_states(
    conn: asyncpg.Connection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], AttendanceState]:
    rows = await conn.fetch(
        """SELECT a.attendance_id, a.resident_id, a.session_id, a.minutes, a.recorded, a.adjusted_at, a.adjusted_by,
                  a.course_id, a.community_id, a.home_community_id, a.audience_group, a.day
           FROM unnest($1::text[], $2::text[]) AS k(session_id, resident_id)
           JOIN attendance a ON a.session_id = k.session_id AND a.resident_id = k.resident_id""",
        [k[0] for k in keys], [k[1] for k in keys],
    )  # fmt: skip
    return {(r["session_id"], r["resident_id"]): AttendanceState(**dict(r)) for r in rows}


async def save_attendance(
    conn: asyncpg.Connection, changed: dict[tuple[str, str], AttendanceState], agg: Aggregates
) -> None:
    if changed:
        s = list(changed.values())
        await conn.execute(
            """INSERT INTO attendance(attendance_id, resident_id, session_id, minutes, recorded, adjusted_at,
                   adjusted_by, course_id, community_id, home_community_id, audience_group, day)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bool[], $6::timestamptz[],
                   $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::date[])
               ON CONFLICT (session_id, resident_id) DO UPDATE SET attendance_id = EXCLUDED.attendance_id,
                   minutes = EXCLUDED.minutes, recorded = EXCLUDED.recorded,
                   adjusted_at = EXCLUDED.adjusted_at, adjusted_by = EXCLUDED.adjusted_by,
                   course_id = EXCLUDED.course_id, community_id = EXCLUDED.community_id,
                   home_community_id = EXCLUDED.home_community_id, audience_group = EXCLUDED.audience_group,
                   day = EXCLUDED.day""",
            [x.attendance_id for x in s], [x.resident_id for x in s], [x.session_id for x in s],
            [x.minutes for x in s], [x.recorded for x in s], [x.adjusted_at for x in s], [x.adjusted_by for x in s],
            [x.course_id for x in s], [x.community_id for x in s], [x.home_community_id for x in s],
            [x.audience_group for x in s], [x.day for x in s],
        )  # fmt: skip
    if agg.daily:
        keys = list(agg.daily)
        await conn.execute(
            """INSERT INTO attendance_daily(community_id, day, course_id, attendances, minutes)
               SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::bigint[], $5::bigint[])
               ON CONFLICT (community_id, day, course_id) DO UPDATE SET
                   attendances = attendance_daily.attendances + EXCLUDED.attendances,
                   minutes = attendance_daily.minutes + EXCLUDED.minutes""",
            [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
            [agg.daily[k][0] for k in keys], [agg.daily[k][1] for k in keys],
        )  # fmt: skip
    if agg.last_seen:
        keys = list(agg.last_seen)
        # Written only when the day moves forward or the group becomes known (no dead tuples otherwise).
        await conn.execute(
            """INSERT INTO attendees(community_id, resident_id, last_day, audience_group)
               SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::text[])
               ON CONFLICT (resident_id, community_id) DO UPDATE
                   SET last_day = GREATEST(attendees.last_day, EXCLUDED.last_day),
                       audience_group = COALESCE(attendees.audience_group, EXCLUDED.audience_group)
                   WHERE attendees.last_day < EXCLUDED.last_day
                      OR (attendees.audience_group IS NULL AND EXCLUDED.audience_group IS NOT NULL)""",
            [k[0] for k in keys], [k[1] for k in keys], [agg.last_seen[k] for k in keys],
            [agg.audience.get(k) for k in keys],
        )  # fmt: skip
    if agg.audience_seen:
        await _audience_seen(conn, list(agg.audience_seen.items()))
    if agg.resident_minutes:
        keys = list(agg.resident_minutes)
        await conn.execute(
            """INSERT INTO resident_minutes(resident_id, period, minutes)
               SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
               ON CONFLICT (resident_id, period) DO UPDATE SET minutes = resident_minutes.minutes + EXCLUDED.minutes""",
            [k[0] for k in keys], [k[1] for k in keys], [agg.resident_minutes[k] for k in keys],
        )  # fmt: skip


async def _audience_seen(conn: asyncpg.Connection, items: list[tuple[tuple[str, str], date]]) -> None:
    await conn.execute(
        """INSERT INTO audience_seen(community_id, audience_group, last_day)
           SELECT * FROM unnest($1::text[], $2::text[], $3::date[])
           ON CONFLICT (community_id, audience_group) DO UPDATE SET last_day = EXCLUDED.last_day
               WHERE audience_seen.last_day < EXCLUDED.last_day""",
        [k[0] for k, _ in items], [k[1] for k, _ in items], [d for _, d in items],
    )  # fmt: skip


# --- residents, enrolments, needs --------------------------------------------------------------


async def upsert_resident(conn: asyncpg.Connection, e: Any) -> None:
    await conn.execute(
        """INSERT INTO residents VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (resident_id) DO UPDATE SET
           community_id = EXCLUDED.community_id, audience_group = EXCLUDED.audience_group,
           family_id = EXCLUDED.family_id, employer_id = EXCLUDED.employer_id, volunteer = EXCLUDED.volunteer""",
        e.resident_id, e.community_id, str(e.audience_group), e.family_id, e.employer_id, e.volunteer,
    )  # fmt: skip
    # Attendance that arrived before the registration learns the audience group now.
    rows = await conn.fetch(
        """UPDATE attendees SET audience_group = $2 WHERE resident_id = $1 AND audience_group IS NULL
           RETURNING community_id, last_day""",
        e.resident_id, str(e.audience_group),
    )  # fmt: skip
    if rows:
        group = str(e.audience_group)
        seen: dict[tuple[str, str], date] = {}
        for r in rows:
            for community in (r["community_id"], STREET):
                key = (community, group)
                seen[key] = max(seen.get(key, r["last_day"]), r["last_day"])
        await _audience_seen(conn, sorted(seen.items()))


async def upsert_enrolment(conn: asyncpg.Connection, e: Any, status: str) -> None:
    # Only a later fact replaces an earlier one, so a redelivered old status never wins.
    await conn.execute(
        """INSERT INTO enrolments VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (enrolment_id) DO UPDATE SET
           status = EXCLUDED.status, at = EXCLUDED.at, community_id = COALESCE(EXCLUDED.community_id,
           enrolments.community_id) WHERE enrolments.at <= EXCLUDED.at""",
        e.enrolment_id, e.session_id, e.resident_id, e.community_id, status, e.at,
    )  # fmt: skip


async def insert_vote(conn: asyncpg.Connection, e: Any, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO need_votes VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", e.vote_id, e.community_id, e.theme, at
    )


async def insert_rating(conn: asyncpg.Connection, e: Any, day: date) -> None:
    """A session's satisfaction rating, once per rating id (one per resident and session)."""
    await conn.execute(
        "INSERT INTO session_ratings VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        e.rating_id, e.session_id, e.community_id, e.theme, e.score, day,
    )  # fmt: skip


# --- reading the index -------------------------------------------------------------------------


# Session `s` is on a day its venue is open: a closed venue's sessions leave the venue and seat
# denominators (and their numerators) from its closing day, until it reopens (the catalogue's venues).
_VENUE_OPEN = """NOT EXISTS (SELECT 1 FROM venues vc WHERE vc.venue_id = s.venue_id
    AND vc.closed_on <= (s.starts_at AT TIME ZONE 'Asia/Shanghai')::date
    AND (vc.reopened_on IS NULL OR (s.starts_at AT TIME ZONE 'Asia/Shanghai')::date < vc.reopened_on))"""


def _by_community(rows, *columns: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        key = r["community_id"] if r["community_id"] is not None else STREET
        out[key] = {c: float(r[c] or 0) for c in columns}
    return out


async def compute_metrics(
    conn: asyncpg.Connection,
    *,
    today: date,
    now: datetime,
    populations: dict[str, int],
    themes: list[str],
    denominators: dict[str, str] | None = None,
) -> dict[str, dict[str, MetricValue]]:
    """Every metric per community and for the street, from the aggregates (never from raw events).

    `denominators`: the indicator file's choice per metric (services/scoring/domain/indicators.py
    DENOMINATORS); resident-based metrics divide by the reference population unless it says
    registered residents. Every rate counts in its numerator only members of its denominator, so
    it lies within [0, 1] whatever arrived: attendees of a community beyond its reference
    population are not counted (the population figure is then out of date), registered-resident
    rates count only attendees registered in the community, venues count by their own community,
    enrolments and attendances count at most their session's seats, themes and audience groups
    only known ones."""
    chosen = denominators or {}
    period = str(today.year)
    since = now - timedelta(days=365)
    gs = "GROUP BY GROUPING SETS ((community_id), ())"
    registered = _by_community(await conn.fetch(f"SELECT community_id, count(*) AS n FROM residents {gs}"), "n")
    # Distinct attendees by home community (a resident who moved counts where they lived when they
    # attended); the street counts each resident once.
    attendees = _by_community(
        await conn.fetch(
            """SELECT community_id, count(*) FILTER (WHERE last_day > $1::date - 28) AS a4, count(*) AS a12
               FROM attendees WHERE last_day > $1::date - 365 GROUP BY community_id
               UNION ALL
               SELECT NULL, count(*) FILTER (WHERE d > $1::date - 28), count(*)
               FROM (SELECT max(last_day) AS d FROM attendees WHERE last_day > $1::date - 365
                     GROUP BY resident_id) AS street""",
            today,
        ),
        "a4", "a12",
    )  # fmt: skip
    # Registered residents who attended, by the community they are registered in now.
    registered_attendees = _by_community(
        await conn.fetch(
            """SELECT r.community_id, count(*) FILTER (WHERE a.d > $1::date - 28) AS a4, count(*) AS a12
               FROM (SELECT resident_id, max(last_day) AS d FROM attendees WHERE last_day > $1::date - 365
                     GROUP BY resident_id) a JOIN residents r USING (resident_id)
               GROUP BY GROUPING SETS ((r.community_id), ())""",
            today,
        ),
        "a4", "a12",
    )  # fmt: skip
    groups = {
        r["community_id"]: float(r["n"])
        for r in await conn.fetch(
            """SELECT community_id, count(*) AS n FROM audience_seen WHERE last_day > $1::date - 365
               AND audience_group = ANY($2::text[]) GROUP BY community_id""",
            today,
            list(AudienceGroup),
        )
    }
    hours = _by_community(
        await conn.fetch(
            """SELECT d.community_id, sum(d.minutes) AS minutes, sum(d.attendances) AS n
               FROM attendance_daily d
               WHERE d.day > $1::date - 365 GROUP BY GROUPING SETS ((d.community_id), ())""",
            today,
        ),
        "minutes", "n",
    )  # fmt: skip
    held = _by_community(
        await conn.fetch(
            f"""SELECT s.community_id, count(*) AS held, sum(greatest(s.capacity, 0)) AS seats,
                      count(DISTINCT c.theme) FILTER (WHERE c.theme = ANY($3::text[])) AS themes,
                      sum(least(a.n, greatest(s.capacity, 0))) AS attended,
                      -- hours taught: the length of each volunteer-taught session someone attended,
                      -- never the attendees' hours (ten people in a two-hour class: two hours)
                      sum(extract(epoch FROM s.ends_at - s.starts_at) / 60)
                          FILTER (WHERE c.provider_kind = 'volunteer' AND a.n > 0) AS taught
               FROM sessions s LEFT JOIN courses c USING (course_id)
               CROSS JOIN LATERAL (SELECT count(*) AS n FROM attendance a
                                   WHERE a.session_id = s.session_id AND a.recorded) a
               WHERE NOT s.cancelled AND s.starts_at <= $1 AND s.starts_at > $2 AND {_VENUE_OPEN}
               GROUP BY GROUPING SETS ((s.community_id), ())""",
            now, since, themes,
        ),
        "held", "seats", "themes", "attended", "taught",
    )  # fmt: skip
    venues = _by_community(
        await conn.fetch(
            f"""SELECT community_id, count(*) AS n, count(*) FILTER (WHERE EXISTS (
                       SELECT 1 FROM sessions s WHERE s.venue_id = v.venue_id AND NOT s.cancelled
                       AND s.starts_at <= $1 AND s.starts_at > $2 AND {_VENUE_OPEN})) AS active
                FROM venues v WHERE NOT coalesce(v.closed_on <= $3 AND (v.reopened_on IS NULL OR $3 < v.reopened_on),
                                                 false) {gs}""",
            now, since, today,
        ),
        "n", "active",
    )  # fmt: skip
    enrol = _by_community(
        await conn.fetch(
            f"""SELECT s.community_id, sum(least(coalesce(e.confirmed, 0), greatest(s.capacity, 0))) AS confirmed,
                      sum(greatest(s.capacity, 0)) AS seats,
                      sum(e.ended) AS ended, sum(e.no_show) AS no_show
               FROM sessions s LEFT JOIN (
                   SELECT e.session_id, count(*) AS confirmed, count(*) FILTER (WHERE s.ends_at < $1) AS ended,
                          count(*) FILTER (WHERE s.ends_at < $1 AND NOT EXISTS (
                              SELECT 1 FROM attendance a WHERE a.session_id = e.session_id
                              AND a.resident_id = e.resident_id AND a.recorded)) AS no_show
                   FROM enrolments e JOIN sessions s USING (session_id)
                   WHERE e.status = 'confirmed' GROUP BY e.session_id) e USING (session_id)
               WHERE NOT s.cancelled AND s.starts_at > $2 AND {_VENUE_OPEN}
               GROUP BY GROUPING SETS ((s.community_id), ())""",
            now, since,
        ),
        "confirmed", "seats", "ended", "no_show",
    )  # fmt: skip
    needs = _by_community(
        await conn.fetch(
            """WITH v AS (SELECT community_id, theme, count(*) AS n FROM need_votes WHERE voted_at > $1
                          GROUP BY GROUPING SETS ((community_id, theme), (theme))),
                    r AS (SELECT community_id, theme, row_number() OVER (PARTITION BY community_id
                          ORDER BY n DESC, theme) AS rk FROM v)
               SELECT r.community_id, count(*) AS top, count(*) FILTER (WHERE EXISTS (
                          SELECT 1 FROM courses c WHERE c.theme = r.theme AND NOT c.cancelled
                          AND (r.community_id IS NULL OR c.community_id IS NULL OR c.community_id = r.community_id
                               OR EXISTS (SELECT 1 FROM sessions s WHERE s.course_id = c.course_id
                                          AND s.community_id = r.community_id)))) AS satisfied
               FROM r WHERE rk <= 5 GROUP BY r.community_id""",
            since,
        ),
        "top", "satisfied",
    )  # fmt: skip
    # Satisfaction: ratings of 4 or 5 among the ratings of sessions of the last 365 days, by the
    # session's community; a community nobody rated has no denominator, hence value 0 (not perfect).
    ratings = _by_community(
        await conn.fetch(
            f"""SELECT community_id, count(*) AS n, count(*) FILTER (WHERE score >= $2) AS satisfied
                FROM session_ratings WHERE day > $1::date - 365 AND day <= $1::date {gs}""",
            today, SATISFIED_FROM,
        ),
        "n", "satisfied",
    )  # fmt: skip
    honours = _by_community(
        await conn.fetch(
            f"SELECT community_id, count(*) AS n FROM honours WHERE state = 'awarded' AND period = $1 {gs}", period
        ),
        "n",
    )
    zero: dict[str, float] = {}
    out: dict[str, dict[str, MetricValue]] = {}
    for community, population in populations.items():
        reg = registered.get(community, zero).get("n", 0.0)
        a, ra = attendees.get(community, zero), registered_attendees.get(community, zero)
        h = hours.get(community, zero)
        s = held.get(community, zero)
        e = enrol.get(community, zero)
        n = needs.get(community, zero)
        v = venues.get(community, zero)

        def per_resident(metric: str, among_population: float, among_registered: float,
                         reg: float = reg, population: float = population) -> MetricValue:  # fmt: skip
            if chosen.get(metric, "population") == "registered_residents":
                return MetricValue(among_registered, reg)
            return MetricValue(among_population, population)

        learnt = round(h.get("minutes", 0.0) / 60, 2)
        out[community] = {
            # More attendees than the reference population: the excess is not counted (see above).
            "participation_rate_4w": per_resident(
                "participation_rate_4w", min(a.get("a4", 0.0), population), ra.get("a4", 0.0)
            ),
            "participation_rate_12m": per_resident(
                "participation_rate_12m", min(a.get("a12", 0.0), population), ra.get("a12", 0.0)
            ),
            "learning_hours_per_resident": per_resident("learning_hours_per_resident", learnt, learnt),
            "audience_coverage": MetricValue(min(groups.get(community, 0.0), len(AudienceGroup)), len(AudienceGroup)),
            "venues_active_share": MetricValue(v.get("active", 0.0), v.get("n", 0.0)),
            # Attendances of each session held, at most its seats (walk-ins beyond them count as full).
            "venue_utilisation": MetricValue(s.get("attended", 0.0), s.get("seats", 0.0)),
            "theme_diversity": MetricValue(s.get("themes", 0.0), len(themes)),
            "sessions_per_1000": MetricValue(s.get("held", 0.0), population / 1000),
            "volunteer_teaching_hours": MetricValue(round(s.get("taught", 0.0) / 60, 2), 1),
            "needs_satisfaction": MetricValue(n.get("satisfied", 0.0), n.get("top", 0.0)),
            "enrolment_fill_rate": MetricValue(e.get("confirmed", 0.0), e.get("seats", 0.0)),
            "no_show_rate": MetricValue(e.get("no_show", 0.0), e.get("ended", 0.0)),
            "honours_awarded": MetricValue(honours.get(community, zero).get("n", 0.0), 1),
            "session_satisfaction": MetricValue(
                ratings.get(community, zero).get("satisfied", 0.0), ratings.get(community, zero).get("n", 0.0)
            ),
        }
    return out


async def latest_assessments(conn: asyncpg.Connection) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """community → indicator → kind (self, expert) → the latest assessment of that kind (score, by, at)."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (community_id, indicator_id, kind) community_id, indicator_id, kind, score, assessor,
                  actor_role, recorded_at
           FROM assessments ORDER BY community_id, indicator_id, kind, recorded_at DESC, assessment_id DESC"""
    )
    out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for r in rows:
        out.setdefault(r["community_id"], {}).setdefault(r["indicator_id"], {})[r["kind"]] = {
            "score": r["score"], "by": r["assessor"], "role": r["actor_role"], "at": r["recorded_at"].isoformat(),
        }  # fmt: skip
    return out


# --- assessments ---------------------------------------------------------------------------------


async def insert_assessment(conn: asyncpg.Connection, a: dict[str, Any]) -> dict[str, Any]:
    row = await conn.fetchrow(
        """INSERT INTO assessments(assessment_id, indicator_id, community_id, score, evidence_text, evidence_url,
               assessor, kind, actor_role) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *""",
        a["assessment_id"], a["indicator_id"], a["community_id"], a["score"], a["evidence_text"],
        a["evidence_url"], a["assessor"], a["kind"], a["actor_role"],
    )  # fmt: skip
    return dict(row)


async def list_assessments(conn: asyncpg.Connection, community_id: str | None, indicator_id: str | None, limit: int,
                           kind: str | None = None):  # fmt: skip
    rows = await conn.fetch(
        """SELECT * FROM assessments WHERE ($1::text IS NULL OR community_id = $1)
           AND ($2::text IS NULL OR indicator_id = $2) AND ($4::text IS NULL OR kind = $4)
           ORDER BY recorded_at DESC, assessment_id LIMIT $3""",
        community_id, indicator_id, limit, kind,
    )  # fmt: skip
    return [dict(r) for r in rows]


# --- honours -------------------------------------------------------------------------------------

_HONOUR_ID = "md5('learnstreet:honour:' || {kind} || ':' || {period} || ':' || {recipient})::uuid"


async def award_rule_honours(
    conn: asyncpg.Connection, period: str, rules: HonourRules, *, state: str, at: datetime
) -> list[dict[str, Any]]:
    """Insert every honour whose rule (domain/honours.py) holds now, with the thresholds given, in
    `state` (nominated, or awarded when selection is automatic); the unique (kind, period,
    recipient) makes each nomination happen once however often this runs, whatever became of it
    since (a rejected or withdrawn candidate is not nominated again). Returns the new ones, whose
    first step the caller records."""
    year = int(period)
    start, end = date(year, 1, 1), date(year + 1, 1, 1)
    cols = "honour_id, kind, period, recipient_kind, recipient_id, resident_ids, community_id, reason"
    ret = f"ON CONFLICT (kind, period, recipient_id) DO NOTHING RETURNING {cols}"
    new: list[dict[str, Any]] = []
    star = _HONOUR_ID.format(kind="$3::text", period="$1", recipient="rm.resident_id")
    new += await conn.fetch(
        f"""INSERT INTO honours({cols})
            SELECT {star}, $3, $1, 'resident', rm.resident_id, ARRAY[rm.resident_id],
                   COALESCE(r.community_id, (SELECT community_id FROM attendees ad
                                             WHERE ad.resident_id = rm.resident_id LIMIT 1)),
                   format('%s learning hours in %s', round(rm.minutes / 60.0, 1), $1)
            FROM resident_minutes rm LEFT JOIN residents r USING (resident_id)
            WHERE rm.period = $1 AND rm.minutes >= $2 {ret}""",
        period, rules.learning_star_min_minutes, honours.LEARNING_STAR,
    )  # fmt: skip
    fam = _HONOUR_ID.format(kind="$4::text", period="$1", recipient="family_id")
    new += await conn.fetch(
        f"""INSERT INTO honours({cols})
            SELECT {fam}, $4, $1, 'family', family_id, ids, community_id,
                   format('%s members with at least %s learning hours each', cardinality(ids), $3::float / 60)
            FROM (SELECT r.family_id, array_agg(r.resident_id ORDER BY r.resident_id) AS ids,
                         mode() WITHIN GROUP (ORDER BY r.community_id) AS community_id
                  FROM residents r JOIN resident_minutes rm ON rm.resident_id = r.resident_id AND rm.period = $1
                  WHERE r.family_id IS NOT NULL AND rm.minutes >= $3
                  GROUP BY r.family_id HAVING count(*) >= $2) f {ret}""",
        period, rules.family_min_members, rules.family_min_minutes, honours.LEARNING_FAMILY,
    )  # fmt: skip
    ent = _HONOUR_ID.format(kind="$4::text", period="$1", recipient="employer_id")
    new += await conn.fetch(
        f"""INSERT INTO honours({cols})
            SELECT {ent}, $4, $1, 'employer', employer_id, ids, community_id,
                   format('%s of %s registered employees learnt at least %s hours each in %s',
                          cardinality(ids), registered, $5::float / 60, $1)
            FROM (SELECT r.employer_id, count(*) AS registered,
                         -- the community the enterprise is registered with, else where most staff live
                         coalesce((SELECT o.community_id FROM organisations o WHERE o.organisation_id = r.employer_id),
                                  mode() WITHIN GROUP (ORDER BY r.community_id)) AS community_id,
                         COALESCE(array_agg(r.resident_id ORDER BY r.resident_id)
                                  FILTER (WHERE rm.minutes >= $5), '{{}}') AS ids
                  FROM residents r LEFT JOIN resident_minutes rm ON rm.resident_id = r.resident_id AND rm.period = $1
                  WHERE r.employer_id IS NOT NULL GROUP BY r.employer_id
                  -- ::float8: next to count(*) the share was typed bigint, and asyncpg sent 0.5 as 0
                  HAVING count(*) >= $2
                     AND count(*) FILTER (WHERE rm.minutes >= $5) >= $3::float8 * count(*)) e {ret}""",
        period, rules.enterprise_min_registered, rules.enterprise_min_share, honours.BOOK_FRAGRANT_ENTERPRISE,
        rules.enterprise_min_minutes_each,
    )  # fmt: skip
    # Teaching minutes (the length of the volunteer's sessions that were held, not attendee-minutes)
    # and confirmed volunteer service minutes (volunteer_service, migration 0010)
    # side by side; `either` (domain/volunteering.py excellent_volunteer) says whether one suffices.
    vol = _HONOUR_ID.format(kind="$5::text", period="$1", recipient="provider_id")
    new += await conn.fetch(
        f"""INSERT INTO honours({cols})
            SELECT {vol}, $5, $1, 'resident', provider_id, ARRAY[provider_id],
                   (SELECT community_id FROM residents WHERE resident_id = provider_id),
                   format('%s volunteer teaching hours and %s confirmed volunteer service hours in %s',
                          round(m / 60.0, 1), round(s / 60.0, 1), $1)
            FROM (SELECT provider_id, sum(m) AS m, sum(s) AS s FROM (
                      SELECT c.provider_id, sum(extract(epoch FROM ss.ends_at - ss.starts_at) / 60) AS m, 0 AS s
                      FROM sessions ss JOIN courses c USING (course_id)
                      WHERE c.provider_kind = 'volunteer' AND c.provider_id IS NOT NULL AND NOT ss.cancelled
                        AND (ss.starts_at AT TIME ZONE 'Asia/Shanghai')::date >= $2
                        AND (ss.starts_at AT TIME ZONE 'Asia/Shanghai')::date < $3
                        AND EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = ss.session_id AND a.recorded)
                      GROUP BY c.provider_id
                      UNION ALL
                      SELECT volunteer_id, 0, sum(hours) * 60 FROM volunteer_service
                      WHERE state = 'confirmed' AND day >= $2 AND day < $3 GROUP BY volunteer_id) t
                  GROUP BY provider_id) v
            WHERE CASE WHEN $7 THEN m >= $4 OR s >= $6 ELSE m >= $4 AND s >= $6 END {ret}""",
        period, start, end, rules.volunteer_min_teaching_minutes, honours.EXCELLENT_VOLUNTEER,
        rules.volunteer_min_service_minutes, rules.volunteer_either,
    )  # fmt: skip
    if not new:
        return []
    # Inserted as nominated (the column's default: never an award by accident); the time and the
    # state the caller chose in one more statement, only when something was new.
    rows = await conn.fetch(
        f"""UPDATE honours SET state = $2::text, nominated_at = $3::timestamptz,
               awarded_at = CASE WHEN $2::text = '{selection.AWARDED}' THEN $3::timestamptz END
               WHERE honour_id = ANY($1::uuid[]) RETURNING *""",
        [r["honour_id"] for r in new], state, at,
    )  # fmt: skip
    return [dict(r) for r in rows]


async def insert_honour(conn: asyncpg.Connection, h: dict[str, Any], *, state: str, at: datetime) -> dict | None:
    """One candidate (or, with automatic selection, an award); None when (kind, period, recipient) exists."""
    row = await conn.fetchrow(
        """INSERT INTO honours(honour_id, kind, period, recipient_kind, recipient_id, resident_ids, community_id,
               reason, place, state, nominated_at, awarded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text, $11::timestamptz,
                   CASE WHEN $10::text = 'awarded' THEN $11::timestamptz END)
           ON CONFLICT (kind, period, recipient_id) DO NOTHING RETURNING *""",
        h["honour_id"], h["kind"], h["period"], h["recipient_kind"], h["recipient_id"], h["resident_ids"],
        h["community_id"], h["reason"], h.get("place"), state, at,
    )  # fmt: skip
    return dict(row) if row else None


async def honour_for_update(conn: asyncpg.Connection, honour_id) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM honours WHERE honour_id = $1 FOR UPDATE", honour_id)
    return dict(row) if row else None


_STATE_COLUMNS = ("notice_starts_at", "notice_ends_at", "awarded_at", "revoked_at", "revoke_reason")


async def set_honour_state(conn: asyncpg.Connection, honour_id, state: str, **columns: Any) -> dict[str, Any]:
    """The new state and the columns that go with it (`_STATE_COLUMNS`); the caller holds the row lock."""
    unknown = set(columns) - set(_STATE_COLUMNS)
    if unknown:
        raise ValueError(f"not a state column: {sorted(unknown)}")
    sets = "".join(f", {c} = ${i}" for i, c in enumerate(columns, start=3))
    row = await conn.fetchrow(
        f"UPDATE honours SET state = $2{sets} WHERE honour_id = $1 RETURNING *", honour_id, state, *columns.values()
    )
    return dict(row)


async def places_taken(conn: asyncpg.Connection, kind: str, period: str, community_id: str | None) -> int:
    """Places held for (kind, period, community), counted under a transaction lock on that triple so
    two approvals at once cannot both take the last place."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2 || ':' || $3 || ':' || coalesce($4, '')))",
        HONOUR_PLACES_LOCK, kind, period, community_id,
    )  # fmt: skip
    return await conn.fetchval(
        """SELECT count(*) FROM honours WHERE kind = $1 AND period = $2 AND community_id IS NOT DISTINCT FROM $3
           AND state = ANY($4::text[])""",
        kind, period, community_id, list(selection.HOLDS_A_PLACE),
    )  # fmt: skip


async def add_steps(conn: asyncpg.Connection, steps: list[dict[str, Any]]) -> None:
    """Steps of the selection record: honour_id, step, acted_by, actor_role, at, and optionally
    reason, objection_id, detail."""
    if not steps:
        return
    await conn.execute(
        """INSERT INTO honour_steps(honour_id, step, acted_by, actor_role, reason, objection_id, at, detail)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[],
               $7::timestamptz[], $8::jsonb[])""",
        [s["honour_id"] for s in steps], [s["step"] for s in steps], [s["acted_by"] for s in steps],
        [s["actor_role"] for s in steps], [s.get("reason") or "" for s in steps],
        [s.get("objection_id") for s in steps], [s["at"] for s in steps], [s.get("detail") or {} for s in steps],
    )  # fmt: skip


async def steps_of(conn: asyncpg.Connection, honour_id) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM honour_steps WHERE honour_id = $1 ORDER BY step_id", honour_id)
    return [dict(r) for r in rows]


async def objections_of(conn: asyncpg.Connection, honour_id) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM honour_objections WHERE honour_id = $1 ORDER BY lodged_at, objection_id", honour_id
    )
    return [dict(r) for r in rows]


async def insert_objection(conn: asyncpg.Connection, o: dict[str, Any]) -> None:
    await conn.execute(
        """INSERT INTO honour_objections(objection_id, honour_id, lodged_by, lodged_role, reason, lodged_at)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        o["objection_id"], o["honour_id"], o["lodged_by"], o["lodged_role"], o["reason"], o["lodged_at"],
    )  # fmt: skip


async def objection_for_update(conn: asyncpg.Connection, honour_id, objection_id) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT * FROM honour_objections WHERE objection_id = $1 AND honour_id = $2 FOR UPDATE",
        objection_id, honour_id,
    )  # fmt: skip
    return dict(row) if row else None


async def resolve_objection(conn: asyncpg.Connection, objection_id, outcome: str, by: str, reason: str, at) -> None:
    await conn.execute(
        """UPDATE honour_objections SET outcome = $2, resolved_by = $3, resolution_reason = $4, resolved_at = $5
           WHERE objection_id = $1""",
        objection_id, outcome, by, reason, at,
    )  # fmt: skip


async def notices_over(conn: asyncpg.Connection, now: datetime, limit: int = 500) -> list[dict[str, Any]]:
    """Honours whose notice period has ended with no objection open, locked for their award; rows
    another transaction holds are skipped (it is awarding them, or resolving an objection)."""
    rows = await conn.fetch(
        """SELECT * FROM honours h WHERE h.state = 'in_notice' AND h.notice_ends_at <= $1
           AND NOT EXISTS (SELECT 1 FROM honour_objections o WHERE o.honour_id = h.honour_id AND o.outcome IS NULL)
           ORDER BY h.notice_ends_at, h.honour_id LIMIT $2 FOR UPDATE SKIP LOCKED""",
        now, limit,
    )  # fmt: skip
    return [dict(r) for r in rows]


async def award_all(conn: asyncpg.Connection, honour_ids: list, at: datetime) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "UPDATE honours SET state = 'awarded', awarded_at = $2 WHERE honour_id = ANY($1::uuid[]) RETURNING *",
        honour_ids, at,
    )  # fmt: skip
    return [dict(r) for r in rows]


async def list_honours(conn: asyncpg.Connection, *, period=None, community_id=None, resident_id=None, kind=None,
                       states: list[str], limit: int = 200) -> list[dict[str, Any]]:  # fmt: skip
    rows = await conn.fetch(
        """SELECT * FROM honours WHERE ($1::text IS NULL OR period = $1) AND ($2::text IS NULL OR community_id = $2)
           AND ($3::text IS NULL OR $3 = ANY(resident_ids) OR recipient_id = $3) AND ($4::text IS NULL OR kind = $4)
           AND state = ANY($6::text[])
           ORDER BY coalesce(awarded_at, nominated_at) DESC, honour_id LIMIT $5""",
        period, community_id, resident_id, kind, limit, states,
    )  # fmt: skip
    return [dict(r) for r in rows]


async def get_honour(conn: asyncpg.Connection, honour_id) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM honours WHERE honour_id = $1", honour_id)
    return dict(row) if row else None


# --- rectification tasks (domain/rectification.py) -------------------------------------------------


async def insert_task(conn: asyncpg.Connection, t: dict[str, Any]) -> dict[str, Any] | None:
    """A new task; None when its item already has a task in hand (not verified)."""
    row = await conn.fetchrow(
        """INSERT INTO rectification_tasks(task_id, community_id, indicator_id, owner_kind, owner, deadline, status,
               item, opened_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $8)
           ON CONFLICT (community_id, indicator_id) WHERE status <> 'verified' DO NOTHING RETURNING *""",
        t["task_id"], t["community_id"], t["indicator_id"], t["owner_kind"], t["owner"], t["deadline"], t["item"],
        t["at"],
    )  # fmt: skip
    return dict(row) if row else None


async def task_in_hand(conn: asyncpg.Connection, community_id: str, indicator_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT * FROM rectification_tasks WHERE community_id = $1 AND indicator_id = $2 AND status <> 'verified'",
        community_id, indicator_id,
    )  # fmt: skip
    return dict(row) if row else None


async def task_for_update(conn: asyncpg.Connection, task_id) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM rectification_tasks WHERE task_id = $1 FOR UPDATE", task_id)
    return dict(row) if row else None


_TASK_COLUMNS = ("status", "owner_kind", "owner", "deadline")


async def update_task(conn: asyncpg.Connection, task_id, at: datetime, **columns: Any) -> dict[str, Any]:
    """The changed columns (`_TASK_COLUMNS`); the caller holds the row lock."""
    unknown = set(columns) - set(_TASK_COLUMNS)
    if unknown:
        raise ValueError(f"not a task column: {sorted(unknown)}")
    sets = "".join(f", {c} = ${i}" for i, c in enumerate(columns, start=3))
    row = await conn.fetchrow(
        f"UPDATE rectification_tasks SET updated_at = $2{sets} WHERE task_id = $1 RETURNING *",
        task_id, at, *columns.values(),
    )  # fmt: skip
    return dict(row)


async def add_task_step(conn: asyncpg.Connection, s: dict[str, Any]) -> None:
    await conn.execute(
        """INSERT INTO rectification_task_steps(task_id, step, actor, actor_role, reason, at, detail)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        s["task_id"], s["step"], s["actor"], s["actor_role"], s.get("reason") or "", s["at"], s.get("detail") or {},
    )  # fmt: skip


async def insert_task_comment(conn: asyncpg.Connection, c: dict[str, Any]) -> None:
    await conn.execute(
        """INSERT INTO rectification_task_comments(comment_id, task_id, actor, actor_role, body, at)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        c["comment_id"], c["task_id"], c["actor"], c["actor_role"], c["body"], c["at"],
    )  # fmt: skip


async def get_task(conn: asyncpg.Connection, task_id) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM rectification_tasks WHERE task_id = $1", task_id)
    return dict(row) if row else None


async def task_steps(conn: asyncpg.Connection, task_id) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM rectification_task_steps WHERE task_id = $1 ORDER BY step_id", task_id)
    return [dict(r) for r in rows]


async def task_comments(conn: asyncpg.Connection, task_id) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM rectification_task_comments WHERE task_id = $1 ORDER BY at, comment_id", task_id
    )
    return [dict(r) for r in rows]


async def list_tasks(conn: asyncpg.Connection, *, community_id=None, status=None, owner=None, workstation=None,
                     overdue_on: date | None = None, limit: int = 200) -> list[dict[str, Any]]:  # fmt: skip
    """Tasks by item community, status, owner; `workstation`: a community's items or its workstation's
    tasks; `overdue_on`: only tasks not done whose deadline is before that day."""
    rows = await conn.fetch(
        """SELECT * FROM rectification_tasks WHERE ($1::text IS NULL OR community_id = $1)
           AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR owner = $3)
           AND ($4::text IS NULL OR community_id = $4 OR (owner_kind = 'community' AND owner = $4))
           AND ($5::date IS NULL OR (status IN ('open', 'in_progress') AND deadline < $5))
           ORDER BY deadline, opened_at, task_id LIMIT $6""",
        community_id, status, owner, workstation, overdue_on, limit,
    )  # fmt: skip
    return [dict(r) for r in rows]


async def tasks_for_items(conn: asyncpg.Connection, community_id: str) -> dict[str, dict[str, Any]]:
    """Per indicator of a community's list: its task in hand, else the latest verified one."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (indicator_id) * FROM rectification_tasks WHERE community_id = $1
           ORDER BY indicator_id, status = 'verified', opened_at DESC""",
        community_id,
    )
    return {r["indicator_id"]: dict(r) for r in rows}


async def overdue_counts(conn: asyncpg.Connection, today: date) -> dict[str, int]:
    """Tasks not done past their deadline day, per item community."""
    rows = await conn.fetch(
        """SELECT community_id, count(*) AS n FROM rectification_tasks
           WHERE status IN ('open', 'in_progress') AND deadline < $1 GROUP BY community_id""",
        today,
    )
    return {r["community_id"]: r["n"] for r in rows}


# --- history -------------------------------------------------------------------------------------

# Held (session level) by the one scoring instance that publishes index.updated and awards honours.
INDEX_LEADER_LOCK = 0x5C0_130
# Held (transaction level) by a publishing transaction: publishers take turns over index_history.
INDEX_PUBLISH_LOCK = 0x5C0_131
# Held (transaction level) by an approval while it counts the places of one honour kind and community.
HONOUR_PLACES_LOCK = 0x5C0_132
# Both are keyed by the schema too: they guard the tables the search path names (the tests run
# several index engines on private copies of them in the same database).
_SCHEMA_KEY = "hashtext(current_schema())"


async def applied_watermark(conn: asyncpg.Connection) -> tuple:
    """Moves whenever any instance applies a batch: the attendance offsets stored with the results,
    and the inbox's insert count (table events; PostgreSQL's statistics, flushed within a second or
    so of each commit). A trigger to look again, never a count anything is derived from."""
    row = await conn.fetchrow(
        """SELECT (SELECT (count(*), coalesce(sum("offset"), 0))::text FROM consumer_offsets) AS offsets,
                  (SELECT n_tup_ins FROM pg_stat_user_tables WHERE relid = 'inbox'::regclass) AS inbox"""
    )
    return (row["offsets"], row["inbox"])


async def try_lead_index(conn: asyncpg.Connection) -> bool:
    return await conn.fetchval(f"SELECT pg_try_advisory_lock($1, {_SCHEMA_KEY})", INDEX_LEADER_LOCK)


async def resign_index(conn: asyncpg.Connection) -> None:
    await conn.execute(f"SELECT pg_advisory_unlock($1, {_SCHEMA_KEY})", INDEX_LEADER_LOCK)


async def published_on(conn: asyncpg.Connection, day: date, *, lock: bool = False) -> dict[str, tuple[float, dict]]:
    """(total, aspects) recorded for `day` per community: what index.updated last said today. With
    `lock`, publishers take turns until the transaction ends, so each reads the other's rows."""
    if lock:
        await conn.execute(f"SELECT pg_advisory_xact_lock($1, {_SCHEMA_KEY})", INDEX_PUBLISH_LOCK)
    rows = await conn.fetch("SELECT community_id, total, aspects FROM index_history WHERE day = $1", day)
    return {r["community_id"]: (r["total"], r["aspects"]) for r in rows}


async def save_history(conn: asyncpg.Connection, rows: list[tuple[str, date, float, dict]]) -> None:
    await conn.executemany(
        """INSERT INTO index_history(community_id, day, total, aspects) VALUES ($1, $2, $3, $4)
           ON CONFLICT (community_id, day) DO UPDATE SET total = EXCLUDED.total, aspects = EXCLUDED.aspects,
               updated_at = now()""",
        rows,
    )


async def history(conn: asyncpg.Connection, community_id: str, since: date) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT day, total, aspects FROM index_history WHERE community_id = $1 AND day >= $2 ORDER BY day",
        community_id, since,
    )  # fmt: skip
    return [dict(r) for r in rows]
