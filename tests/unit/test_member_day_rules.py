"""Member-day rules: valid windows, the multiplier at a moment, who is told first."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from saleor_retention_plugin.domain.earning import order_multiplier, points_for_amount
from saleor_retention_plugin.domain.member_days import (
    MAX_MULTIPLIER,
    MemberDayWindow,
    announcement_order,
    multiplier_at,
    window_problems,
)

START = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
TIERS = ["member", "silver", "gold"]


def window(start=START, hours=24, multiplier="2", leads=None, announce=48, window_id=None):
    return MemberDayWindow(
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
        multiplier=Decimal(multiplier),
        early_access_hours=leads or {},
        announce_hours=announce,
        window_id=window_id,
    )


def test_a_sound_window_has_no_problems():
    assert (
        window_problems(window(leads={"gold": 24, "silver": 12}), [], tiers_low_to_high=TIERS) == {}
    )


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (window(hours=0), "endsAt"),
        (window(hours=-5), "endsAt"),
        (window(hours=24 * 40), "endsAt"),
        (window(multiplier="0"), "multiplier"),
        (window(multiplier="-1"), "multiplier"),
        (window(multiplier="10.01"), "multiplier"),
        (window(multiplier="NaN"), "multiplier"),
        (window(multiplier="Infinity"), "multiplier"),
        (window(leads={"platinum": 5}), "earlyAccessHours"),
        (window(leads={"gold": -1}), "earlyAccessHours"),
        (window(leads={"gold": 2.5}), "earlyAccessHours"),
        (window(leads={"silver": 24, "gold": 12}), "earlyAccessHours"),  # higher tier later
        (window(announce=-1), "announceHours"),
    ],
)
def test_bad_windows_are_refused_on_the_field_to_fix(bad, field):
    assert field in window_problems(bad, [], tiers_low_to_high=TIERS)


def test_the_largest_multiplier_is_allowed():
    assert (
        window_problems(window(multiplier=str(MAX_MULTIPLIER)), [], tiers_low_to_high=TIERS) == {}
    )


@pytest.mark.parametrize(
    ("offset_hours", "overlaps"),
    [(-24, False), (-23, True), (0, True), (23, True), (24, False)],
)
def test_windows_of_a_channel_may_touch_but_not_overlap(offset_hours, overlaps):
    existing = window(window_id=1)
    new = window(start=START + timedelta(hours=offset_hours))
    problems = window_problems(new, [existing], tiers_low_to_high=TIERS)
    assert ("startsAt" in problems) is overlaps


def test_a_window_does_not_overlap_itself_when_edited():
    existing = window(window_id=1)
    edited = window(hours=30, window_id=1)
    assert window_problems(edited, [existing], tiers_low_to_high=TIERS) == {}


def test_the_multiplier_applies_from_the_start_up_to_the_end():
    windows = [window(multiplier="3")]
    assert multiplier_at(START - timedelta(seconds=1), windows) == 1
    assert multiplier_at(START, windows) == 3
    assert multiplier_at(START + timedelta(hours=23, minutes=59), windows) == 3
    assert multiplier_at(START + timedelta(hours=24), windows) == 1


def test_a_member_day_multiplies_on_top_of_the_tier():
    # 100 USD at 1 point per USD, a gold member earning 1.5x on a double-points day: 300.
    multiplier = order_multiplier(Decimal("1.5"), Decimal(2))
    assert multiplier == 3
    assert points_for_amount(Decimal(100), Decimal(1), multiplier) == 300


def test_higher_tiers_get_in_and_are_told_earlier():
    day = window(leads={"gold": 24, "silver": 12}, announce=48)
    assert day.access_starts_at("gold") == START - timedelta(hours=24)
    assert day.access_starts_at("silver") == START - timedelta(hours=12)
    assert day.access_starts_at("member") == START
    assert day.access_starts_at(None) == START
    assert day.announce_at("gold") == START - timedelta(hours=72)
    assert day.announce_at(None) == START - timedelta(hours=48)
    assert announcement_order(TIERS) == ["gold", "silver", "member", None]
