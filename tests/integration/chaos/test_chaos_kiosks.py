"""The chaos harness's kiosks under contract v2 (no Kafka): the aiokafka client sends for the
signing kiosks and signs every scan they make, retries included, with the key the street
registers; kcat sends for the version-1 kiosks, unsigned, as it cannot sign record by record."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson

from chaos import plan as kinds
from chaos.kafka_io import KioskSigner
from chaos.plan import make_plan
from shared.events.catalogue import KioskCheckin
from shared.kiosk_signing import Verifier, canonical_of, key_id, public_bytes, signature_headers

RUN = "chaos-kiosks-test"


def test_each_client_sends_for_its_own_kiosks_and_a_retry_goes_through_the_same_client():
    plan = make_plan(RUN, 2000, seed=1, now=datetime(2026, 5, 1, tzinfo=UTC))
    signing = set(plan.street.signing_kiosks)
    assert len(signing) == len(plan.street.venues)
    scans = [c for c in plan.checkins + plan.late if c.kind != kinds.MALFORMED]
    by_client = {client: {orjson.loads(c.value)["kiosk_id"] for c in scans if c.client == client}
                 for client in (kinds.AIOKAFKA, kinds.KCAT)}  # fmt: skip
    assert by_client[kinds.AIOKAFKA] and by_client[kinds.AIOKAFKA] <= signing
    assert by_client[kinds.KCAT] and not by_client[kinds.KCAT] & signing
    origin = {c.seq: c for c in plan.checkins}
    duplicates = [c for c in plan.checkins if c.kind == kinds.DUPLICATE]
    assert duplicates and all(c.client == origin[c.origin].client for c in duplicates)
    assert all(c.client == kinds.AIOKAFKA for c in plan.checkins if c.kind == kinds.MALFORMED)


def test_the_signer_signs_the_signing_kiosks_scans_with_the_registered_key_and_nothing_else():
    plan = make_plan(RUN, 600, seed=2, now=datetime(2026, 5, 1, tzinfo=UTC))
    signer = KioskSigner(plan.street.signing_kiosks)
    verifier = Verifier()
    signed = [c for c in plan.checkins if c.client == kinds.AIOKAFKA and c.kind != kinds.MALFORMED]
    assert signed
    for c in signed:
        headers = signer(c)
        signature, kid = signature_headers(headers)
        checkin = KioskCheckin.model_validate(orjson.loads(c.value))
        public = public_bytes(signer.keys[checkin.kiosk_id])  # what street.register sends, base64
        assert base64.b64decode(base64.b64encode(public)) == public and kid == key_id(public)
        assert verifier.verify(public, signature, canonical_of(checkin))
        assert signer(c) == headers  # a retry: the same headers
    assert all(signer(c) == [] for c in plan.checkins if c.kind == kinds.MALFORMED)
    assert all(signer(c) == [] for c in plan.checkins if c.client == kinds.KCAT)
