"""Many streets on one cluster (issue 19): LS_STREET_ID prefixes every topic, dead-letter topic and
consumer group of a deployment, and so its ACLs; unset, the names stay those of every existing
single-street deployment. The catalogue reads the setting at import, so each case runs in a fresh
interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import json, sys
sys.path.insert(0, "deploy/local")
from shared.events import topics
import provision
acls = provision.wanted_acls()
print(json.dumps({
    "topics": sorted(t.name for t in topics.all_topic_specs()),
    "groups": [topics.group_id(s) for s in topics.SERVICES],
    "retention_variable": topics.retention_variable(topics.KIOSK_CHECKINS.name),
    "scoring_acls": sorted(map(list, acls["scoring"])),
    "kiosk_acls": sorted(map(list, acls["kiosk"])),
}))
"""


def probe(street: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LS_STREET_ID"}
    if street is not None:
        env["LS_STREET_ID"] = street
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_a_street_id_prefixes_every_topic_group_and_acl() -> None:
    run = probe("nanwan")
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout)
    assert all(name.startswith("nanwan.") for name in got["topics"]), got["topics"]
    assert "nanwan.activities.attendance" in got["topics"] and "nanwan.kiosk.checkins.dlq" in got["topics"]
    assert got["groups"] == [f"nanwan.learnstreet.{s}" for s in ("activities", "enrolment", "scoring", "notify")]
    # the street's ACLs name its own topics and groups only
    assert all(name.startswith("nanwan.") for _type, name, _pattern, _op in got["scoring_acls"])
    assert ["GROUP", "nanwan.learnstreet.scoring", "PREFIXED", "READ"] in got["scoring_acls"]
    assert got["kiosk_acls"] == [["TOPIC", "nanwan.kiosk.checkins", "LITERAL", op] for op in ("DESCRIBE", "WRITE")]
    # a deployment serves one street: its retention settings keep the topic's own name
    assert got["retention_variable"] == "LS_RETENTION_KIOSK_CHECKINS"


def test_without_a_street_id_the_names_are_the_single_street_ones() -> None:
    got = json.loads(probe(None).stdout)
    assert "activities.attendance" in got["topics"] and "kiosk.checkins.dlq" in got["topics"]
    assert got["groups"][0] == "learnstreet.activities"
    assert json.loads(probe("").stdout) == got


def test_a_street_id_that_cannot_name_topics_is_refused_in_one_line() -> None:
    for bad in ("Nanwan", "nan wan", "n", "nanwan.", "-nanwan", "南湾", "a" * 40):
        run = probe(bad)
        assert run.returncode != 0, bad
        last = run.stderr.strip().splitlines()[-1]
        assert last.startswith("ValueError: LS_STREET_ID=") and "lower-case letters" in last, (bad, last)


def test_a_street_id_that_is_a_service_principal_or_name_segment_is_refused_in_one_line() -> None:
    # `kiosk` would make its principals `kiosk.<service>`, a street without LS_STREET_ID's kiosk
    # principals; `scoring` its topics `scoring.<topic>`; `learnstreet` its groups `learnstreet.…`
    for reserved in ("activities", "enrolment", "scoring", "notify", "kiosk", "learnstreet"):
        run = probe(reserved)
        assert run.returncode != 0, reserved
        last = run.stderr.strip().splitlines()[-1]
        assert last.startswith(f"ValueError: LS_STREET_ID={reserved!r} is reserved"), (reserved, last)
    # the list comes from the catalogue: every principal and every first segment of a topic or group
    # (a topic added later, e.g. `privacy.erasures`, reserves its first segment too)
    derive = (
        "from shared.events import topics as t; print(json.dumps([sorted(t.RESERVED_STREET_IDS), "
        "sorted({*t.PRINCIPALS, 'learnstreet', *(s.name.split('.')[0] for s in t.TOPICS)})]))"
    )
    run = subprocess.run([sys.executable, "-c", f"import json; {derive}"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, env={k: v for k, v in os.environ.items() if k != "LS_STREET_ID"})  # fmt: skip
    reserved, derived = json.loads(run.stdout)
    assert reserved == derived, run.stderr
    assert {"activities", "enrolment", "kiosk", "learnstreet", "notify", "scoring"} <= set(reserved)
    # an id that merely starts like one is a street's own
    assert probe("scoring-east").returncode == 0 and probe("kiosks").returncode == 0
