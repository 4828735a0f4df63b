"""The keys enrolment's roll tombstones use reach every partition of enrolment.contacts, as the
producer's default partitioner would send them (services/enrolment/adapters/contacts_roll.py)."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner

from services.enrolment.adapters.contacts_roll import roll_keys
from services.enrolment.config import EnrolmentSettings
from shared.events import topics


@pytest.mark.parametrize("partitions", [1, 3, 6, 12])
def test_one_key_per_partition_and_the_partitioner_sends_each_there(partitions):
    keys = roll_keys(partitions)
    assert sorted(keys) == list(range(partitions))
    for partition, key in keys.items():
        assert key.startswith(b"learnstreet:roll:")
        assert DefaultPartitioner()(key, list(range(partitions)), list(range(partitions))) == partition


def test_the_roll_comes_at_half_the_contacts_topics_compaction_lag():
    lag_s = int(topics.CONTACTS.config["max.compaction.lag.ms"]) / 1000
    assert EnrolmentSettings.model_fields["contacts_roll_every_s"].default == lag_s / 2
