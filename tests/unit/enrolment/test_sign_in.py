"""Residents' sign-in rules (services/enrolment/domain/sign_in.py): phones, codes and their hashes,
rate limits and the checks of an exchange."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from services.enrolment.domain import sign_in as s

KEY = b"k" * 32
NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
LIMITS = s.Limits()


@pytest.mark.parametrize(
    "written", ["13800138000", "+86 138-0013-8000", "+8613800138000", "008613800138000", "86 138 0013 8000"]
)
def test_a_mainland_phone_is_one_phone_however_it_is_written(written):
    assert s.national_phone(written) == "13800138000"
    assert s.phone_key(KEY, written) == s.phone_key(KEY, "13800138000")


def test_a_phone_is_found_under_each_spelling_it_may_have_been_registered_with():
    assert set(s.phone_spellings("138 0013 8000")) == {
        "13800138000",
        "+8613800138000",
        "8613800138000",
        "008613800138000",
    }
    assert s.phone_spellings("+44 20 7946 0000") == ["442079460000", "+442079460000"]


def test_hashes_are_keyed_and_bound_to_the_phone():
    code = "123456"
    assert s.code_hash(KEY, "13800138000", code) == s.code_hash(KEY, "+86 13800138000", code)
    assert s.code_hash(KEY, "13800138000", code) != s.code_hash(KEY, "13900139000", code)
    assert s.code_hash(KEY, "13800138000", code) != s.code_hash(b"x" * 32, "13800138000", code)
    assert s.phone_key(KEY, "13800138000") != s.keyed_hash(KEY, "ip", "13800138000")
    assert code.encode() not in s.code_hash(KEY, "13800138000", code)


def test_codes_are_six_ascii_digits_and_spread():
    codes = [s.new_code() for _ in range(2000)]
    assert all(len(c) == 6 and c.isascii() and c.isdigit() for c in codes)
    assert len(set(codes)) > 1900  # 10^6 values: a handful of repeats at most
    assert Counter(c[0] for c in codes).most_common(1)[0][1] < 400  # leading zeros kept, digits spread
    assert s.well_formed_code("012345")
    for bad in ("12345", "1234567", "12a456", "１２３４５６", "12345\n", ""):
        assert not s.well_formed_code(bad)


def _stored(**kw) -> s.StoredCode:
    values = dict(
        resident_ids=("R1",),
        code_hash=s.code_hash(KEY, "13800138000", "123456"),
        expires_at=NOW + timedelta(minutes=5),
        attempts=0,
        used=False,
    )
    values.update(kw)
    return s.StoredCode(**values)


def test_the_right_code_signs_in_and_a_wrong_one_counts():
    right = s.code_hash(KEY, "13800138000", "123456")
    assert s.check_code(_stored(), right, NOW, LIMITS) is False
    assert s.check_code(_stored(), s.code_hash(KEY, "13800138000", "654321"), NOW, LIMITS) is True


@pytest.mark.parametrize(
    "stored",
    [None, _stored(used=True), _stored(expires_at=NOW), _stored(expires_at=NOW - timedelta(seconds=1))],
    ids=["none", "used", "expiring-now", "expired"],
)
def test_unknown_used_and_expired_codes_are_refused_alike(stored):
    with pytest.raises(s.CodeRefused) as refused:
        s.check_code(stored, s.code_hash(KEY, "13800138000", "123456"), NOW, LIMITS)
    assert refused.value.reason == "wrong_or_expired" and not refused.value.dead


def test_after_the_last_wrong_attempt_even_the_right_code_is_dead():
    right = s.code_hash(KEY, "13800138000", "123456")
    assert s.check_code(_stored(attempts=LIMITS.max_attempts - 1), right, NOW, LIMITS) is False
    with pytest.raises(s.CodeRefused) as refused:
        s.check_code(_stored(attempts=LIMITS.max_attempts), right, NOW, LIMITS)
    assert refused.value.dead


def test_a_code_of_an_unregistered_phone_never_signs_in_even_when_guessed():
    assert s.check_code(_stored(resident_ids=()), s.code_hash(KEY, "13800138000", "123456"), NOW, LIMITS) is True


def test_one_code_per_phone_per_minute():
    assert s.check_rate(NOW, [], [], LIMITS) is None
    refused = s.check_rate(NOW, [NOW - timedelta(seconds=59)], [], LIMITS)
    assert refused is not None and refused.reason == "phone_interval" and refused.retry_after_s == 1
    assert s.check_rate(NOW, [NOW - timedelta(seconds=60)], [], LIMITS) is None


def test_five_codes_per_phone_per_hour():
    earlier = [NOW - timedelta(minutes=m) for m in (50, 40, 30, 20, 10)]
    refused = s.check_rate(NOW, earlier, [], LIMITS)
    assert refused is not None and refused.reason == "phone_hourly"
    assert refused.retry_after == timedelta(minutes=10)  # when the oldest of the five is an hour old
    assert s.check_rate(NOW, [NOW - timedelta(minutes=61), *earlier[1:]], [], LIMITS) is None


def test_twenty_codes_per_address_per_hour_whatever_the_phones():
    from_here = [NOW - timedelta(minutes=2 * i + 1) for i in range(LIMITS.ip_per_hour)]
    refused = s.check_rate(NOW, [], from_here, LIMITS)
    assert refused is not None and refused.reason == "ip_hourly"
    assert s.check_rate(NOW, [], from_here[:-1], LIMITS) is None


def test_the_longest_wait_is_the_one_announced():
    refused = s.check_rate(
        NOW, [NOW - timedelta(seconds=30)], [NOW - timedelta(minutes=1)] * LIMITS.ip_per_hour, LIMITS
    )
    assert refused is not None and refused.reason == "ip_hourly" and refused.retry_after == timedelta(minutes=59)


def test_limits_are_configurable():
    strict = s.Limits(phone_interval=timedelta(seconds=10), phone_per_hour=2, ip_per_hour=3)
    assert s.check_rate(NOW, [NOW - timedelta(seconds=11)], [], strict) is None
    assert s.check_rate(NOW, [NOW - timedelta(minutes=5)] * 2, [], strict).reason == "phone_hourly"
    assert s.check_rate(NOW, [], [NOW] * 3, strict).reason == "ip_hourly"
