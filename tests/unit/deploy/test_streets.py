"""deploy/local/streets.py: the settings of a second street on the local stack and of the district."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import credentials
import keycloak
import pytest
import stack
import streets

CREDS = {
    "KAFKA_BOOTSTRAP": "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096",
    "LS_KAFKA_TLS_BOOTSTRAP": "127.0.0.1:19192,127.0.0.1:19194,127.0.0.1:19196",
    "LS_KAFKA_TLS_CA_FILE": "/x/.local/kafka/tls/ca.pem",
    "PGPORT_LOCAL": "55432",
    **{f"{s.upper()}_HTTP_PORT": str(p) for s, p in credentials.HTTP_PORTS.items()},
}
SECRETS = {k: f"pw-{k.lower()}" for k in streets.secret_keys("nanwan")}


def test_ls_streets_names_the_extra_streets_in_order_without_the_home_street(tmp_path) -> None:
    for street in ("nanwan", "buji"):
        (tmp_path / street).mkdir()
        (tmp_path / street / "communities.yaml").write_text("street: {}\n")
    assert streets.parse("pinghu,nanwan, buji,nanwan", "pinghu", tmp_path) == ["nanwan", "buji"]
    assert streets.parse("", "pinghu", tmp_path) == [] and streets.parse(None, "pinghu", tmp_path) == []


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("Nanwan", "not a street id"),
        ("nan wan", "not a street id"),
        ("x", "not a street id"),
        ("activities", "reserved"),
        ("kiosk", "reserved"),
        ("learnstreet", "reserved"),
        ("district", "reserved"),
        ("henggang", "no reference data for 'henggang'"),
    ],
)
def test_a_street_the_stack_cannot_run_is_refused_in_one_line(tmp_path, value: str, words: str) -> None:
    for street in ("activities", "kiosk", "learnstreet", "district"):  # even with reference data
        (tmp_path / street).mkdir()
        (tmp_path / street / "communities.yaml").write_text("street: {}\n")
    with pytest.raises(streets.StreetsError) as refused:
        streets.parse(value, "pinghu", tmp_path)
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_the_repositorys_second_street_has_reference_data() -> None:
    assert streets.parse("nanwan", streets.home_street()) == ["nanwan"]
    assert streets.home_street() == "pinghu"


def test_a_street_has_its_own_prefix_principals_databases_ports_and_sign_in_over_tls() -> None:
    env = streets.settings("nanwan", 1, CREDS, SECRETS)
    assert env["LS_STREET_ID"] == "nanwan" and env["LS_REFERENCE_DIR"] == "reference/nanwan"
    # Kafka over the brokers' TLS listeners only, verified against the local CA
    assert env["KAFKA_BOOTSTRAP"] == CREDS["LS_KAFKA_TLS_BOOTSTRAP"]
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SSL_CA_FILE"] == CREDS["LS_KAFKA_TLS_CA_FILE"]
    for p in credentials.PRINCIPALS:
        assert env[f"{p.upper()}_KAFKA_USERNAME"] == f"nanwan.{p}"
        assert env[f"{p.upper()}_KAFKA_PASSWORD"] == SECRETS[f"{p.upper()}_KAFKA_PASSWORD"]
    for s, port in credentials.HTTP_PORTS.items():
        url = urlsplit(env[f"{s.upper()}_DATABASE_URL"])
        assert (url.username, url.path, url.port) == (f"nanwan_{s}", f"/nanwan_{s}", 55432)
        assert url.password == SECRETS[f"{s.upper()}_DATABASE_PASSWORD"]
        assert env[f"{s.upper()}_HTTP_PORT"] == str(port + 1000)
    # residents sign in at the street's own enrolment, with its own key; its page calls its own activities
    assert env["LS_RESIDENT_ISSUER"] == "http://127.0.0.1:9102"
    assert env["ENROLMENT_SIGN_IN_KEY_FILE"].endswith("nanwan-resident-sign-in.pem")
    assert env["ENROLMENT_ACTIVITIES_PUBLIC_URL"] == "http://127.0.0.1:9101"
    assert env["ACTIVITIES_CORS_ORIGINS"] == "http://127.0.0.1:9102,http://localhost:9102"


def test_the_second_extra_street_takes_the_next_thousand_ports() -> None:
    env = streets.settings("buji", 2, CREDS, SECRETS)
    assert env["ACTIVITIES_HTTP_PORT"] == "10101" and env["SCORING_HTTP_PORT"] == "10103"


def test_the_district_reads_every_streets_index_in_its_own_database_over_tls(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(streets, "SECRETS_DIR", tmp_path)
    procs = streets.processes("pinghu", ["nanwan"], CREDS)
    assert [p.name for p in procs] == ["nanwan-activities", "nanwan-enrolment", "nanwan-scoring", "nanwan-notify",
                                       "district"]  # fmt: skip
    district = procs[-1]
    assert district.service == "scoring" and district.port == 8203
    assert district.env["SCORING_DISTRICT_STREETS"] == "pinghu=scoring.index,nanwan"
    assert urlsplit(district.env["SCORING_DATABASE_URL"]).path == "/learnstreet_district"
    assert district.env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert "SCORING_KAFKA_USERNAME" not in district.env  # the stack's scoring principal, granted Read by provisioning
    assert streets.processes("pinghu", [], CREDS) == []


def test_secrets_are_made_once_and_kept(tmp_path) -> None:
    first = streets.secrets("nanwan", tmp_path)
    assert set(first) == set(streets.secret_keys("nanwan")) and len(set(first.values())) == len(first)
    assert streets.secrets("nanwan", tmp_path) == first
    assert oct((tmp_path / "nanwan.env").stat().st_mode & 0o777) == "0o600"
    assert set(streets.secrets(streets.DISTRICT, tmp_path)) == {"SCORING_DATABASE_PASSWORD"}


def test_databases_lists_every_street_database_and_the_districts(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(streets, "SECRETS_DIR", tmp_path)
    dbs = streets.databases("pinghu", ["nanwan"], CREDS)
    assert set(dbs) == {f"nanwan_{s}" for s in credentials.SERVICES} | {"learnstreet_district"}
    assert dbs["nanwan_scoring"][0] == "nanwan_scoring"
    sql = "\n".join(stack.database_sql({"nanwan_scoring": ("nanwan_scoring", "pw")}, lambda s: f'"{s}"',
                                         lambda s: f"'{s}'"))  # fmt: skip
    assert 'CREATE DATABASE "nanwan_scoring" OWNER "nanwan_scoring"' in sql
    assert 'REVOKE CONNECT, TEMPORARY ON DATABASE "nanwan_scoring" FROM PUBLIC' in sql


def test_the_stack_remembers_the_streets_it_started(tmp_path) -> None:
    path = tmp_path / "streets.json"
    assert streets.remembered(path) == []
    streets.remember(["nanwan"], path)
    assert streets.remembered(path) == ["nanwan"]
    path.write_text("{not json")
    assert streets.remembered(path) == []


def test_the_realm_lets_the_district_page_sign_in() -> None:
    creds = {"SCORING_HTTP_PORT": "8103", **{keycloak.password_key(u): "pw" for u in _realm_users()}}
    client = next(
        c for c in json.loads(keycloak.render_realm(creds))["clients"] if c["clientId"] == "learnstreet-dashboard"
    )
    assert "http://127.0.0.1:8203/district" in client["redirectUris"]
    assert "http://127.0.0.1:8203" in client["webOrigins"]
    assert "http://127.0.0.1:8203/district" in client["attributes"]["post.logout.redirect.uris"].split("##")
    assert "{{" not in keycloak.render_realm(creds)


def _realm_users() -> list[str]:
    return [u["username"] for u in json.loads(keycloak.REALM_FILE.read_text(encoding="utf-8")).get("users", [])]


def test_a_services_name_picks_the_stacks_own_instances_not_another_streets() -> None:
    """`stack.py services-down scoring` (a developer reloading scoring) leaves Nanwan's scoring and
    the district alone: `services-up scoring` would not start them again without LS_STREETS."""
    import stack

    own = stack.Proc("scoring", [], marker="services.scoring")
    second = stack.Proc("scoring-2", [], marker="services.scoring")
    theirs = stack.Proc("nanwan-scoring", [], marker="services.scoring", street="nanwan")
    district = stack.Proc("district", [], marker="services.scoring", street="district")
    procs = [own, second, theirs, district]
    assert stack._selected(procs, ["scoring"]) == [own, second]
    assert stack._selected(procs, ["nanwan-scoring", "district"]) == [theirs, district]
    assert stack._selected(procs, None) == procs
