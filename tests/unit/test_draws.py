"""Prize draws are auditable: the outcome follows from the stored seed, nonce and odds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saleor_retention_plugin.domain import draws
from saleor_retention_plugin.domain.draws import SCALE, Prize

PRIZES = [Prize("coupon-50", 10_000), Prize("coupon-10", 90_000), Prize("free-shipping", 200_000)]


@given(seed=st.text(min_size=1, max_size=64), nonce=st.text(max_size=64))
def test_a_draw_is_re_derivable_from_its_audit_and_the_seed(seed, nonce):
    outcome = draws.draw(seed, nonce, PRIZES)
    audit = outcome.as_audit(seed_hash=draws.seed_hash(seed), nonce=nonce, prizes=PRIZES)
    assert draws.verify(audit, seed)
    assert 0 <= outcome.roll < SCALE


@given(seed=st.text(min_size=1, max_size=32), other=st.text(min_size=1, max_size=32))
def test_another_seed_does_not_verify(seed, other):
    audit = draws.draw(seed, "entry:1", PRIZES).as_audit(
        seed_hash=draws.seed_hash(seed), nonce="entry:1", prizes=PRIZES
    )
    if other != seed:
        assert not draws.verify(audit, other)


def test_a_tampered_outcome_does_not_verify():
    seed = draws.new_seed()
    audit = draws.draw(seed, "entry:7", PRIZES).as_audit(
        seed_hash=draws.seed_hash(seed), nonce="entry:7", prizes=PRIZES
    )
    forged = {**audit, "prize": "coupon-50" if audit["prize"] != "coupon-50" else None}
    assert not draws.verify(forged, seed)
    assert not draws.verify({**audit, "roll": (audit["roll"] + 1) % SCALE}, seed)


@given(entry_id=st.integers(min_value=1), key=st.text(max_size=100), other=st.text(max_size=100))
def test_the_nonce_mixes_the_customers_key_into_the_unique_entry(entry_id, key, other):
    nonce = draws.entry_nonce(entry_id, key)
    audit = {"nonce": nonce}

    assert nonce.startswith(f"entry:{entry_id}|key:")
    assert draws.nonce_includes_key(audit, key)
    if other != key:
        assert draws.entry_nonce(entry_id, other) != nonce
        assert not draws.nonce_includes_key(audit, other)


@pytest.mark.parametrize(
    ("roll", "expected"),
    [
        (0, "coupon-50"),
        (9_999, "coupon-50"),
        (10_000, "coupon-10"),
        (99_999, "coupon-10"),
        (100_000, "free-shipping"),
        (299_999, "free-shipping"),
        (300_000, None),
        (999_999, None),
    ],
)
def test_odds_are_consecutive_ranges_in_listed_order(roll, expected):
    assert draws.outcome_for_roll(roll, PRIZES) == expected


def test_a_prize_won_out_wins_nothing_in_its_range():
    prizes = [Prize("tv", 500_000, available=False), Prize("pen", 500_000)]
    assert draws.outcome_for_roll(10, prizes) is None
    assert draws.outcome_for_roll(600_000, prizes) == "pen"


def test_observed_frequencies_follow_the_odds():
    seed = "fixed-seed-for-a-statistical-check"
    wins = {"coupon-50": 0, "coupon-10": 0, "free-shipping": 0, None: 0}
    for entry in range(20_000):
        wins[draws.draw(seed, f"entry:{entry}", PRIZES).prize_code] += 1
    # Expected 200 / 1800 / 4000 / 14000; bounds are > 5 standard deviations wide.
    assert 120 < wins["coupon-50"] < 280
    assert 1600 < wins["coupon-10"] < 2000
    assert 3700 < wins["free-shipping"] < 4300


@pytest.mark.parametrize(
    ("raw", "ppm"), [("0.05", 50_000), ("1", SCALE), ("0.000001", 1), (" 0.5 ", 500_000)]
)
def test_probabilities_become_exact_parts_per_million(raw, ppm):
    assert draws.probability_to_ppm(raw) == ppm


@pytest.mark.parametrize(
    "raw", ["0", "-0.1", "1.01", "abc", "", "NaN", "Infinity", "0.0000001", None]
)
def test_impossible_probabilities_are_refused(raw):
    with pytest.raises(ValueError):  # noqa: PT011 - each message is checked by the mall tests
        draws.probability_to_ppm(raw)


def test_odds_over_one_hundred_percent_are_refused():
    with pytest.raises(ValueError, match="more than 100%"):
        draws.draw("s", "n", [Prize("a", 600_000), Prize("b", 600_000)])


def test_the_seed_commitment_is_sha256():
    assert (
        draws.seed_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert len(draws.new_seed()) == 64
