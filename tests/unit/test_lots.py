"""Earn lots: soonest-expiring points are spent first; expiry is the end of a local day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saleor_retention_plugin.domain.lots import (
    LotView,
    add_months,
    allocate,
    available_moment,
    expiry_moment,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def lot(lot_id: int, remaining: int, *, expires_in_days: int | None, age_days: int = 0) -> LotView:
    return LotView(
        lot_id=lot_id,
        remaining=remaining,
        available_at=T0 - timedelta(days=age_days),
        expires_at=None if expires_in_days is None else T0 + timedelta(days=expires_in_days),
    )


def test_allocate_takes_the_soonest_expiring_lot_first_and_never_expiring_last():
    lots = [
        lot(1, 50, expires_in_days=None, age_days=30),
        lot(2, 50, expires_in_days=90),
        lot(3, 50, expires_in_days=10),
    ]

    assert allocate(lots, 120) == [(3, 50), (2, 50), (1, 20)]


def test_allocate_breaks_ties_by_age_then_id():
    lots = [
        lot(4, 10, expires_in_days=None, age_days=1),
        lot(2, 10, expires_in_days=None, age_days=5),
        lot(3, 10, expires_in_days=None, age_days=5),
    ]

    assert allocate(lots, 25) == [(2, 10), (3, 10), (4, 5)]


def test_allocate_skips_empty_lots_and_stops_when_done():
    lots = [
        lot(1, 0, expires_in_days=1),
        lot(2, 30, expires_in_days=2),
        lot(3, 30, expires_in_days=3),
    ]

    assert allocate(lots, 30) == [(2, 30)]
    assert allocate(lots, 0) == []


def test_allocate_never_takes_more_than_there_is():
    assert allocate([lot(1, 10, expires_in_days=None)], 25) == [(1, 10)]
    assert allocate([], 25) == []


def test_allocating_negative_points_is_refused():
    with pytest.raises(ValueError, match="negative"):
        allocate([lot(1, 10, expires_in_days=None)], -1)


lot_views = st.lists(
    st.builds(
        LotView,
        lot_id=st.integers(1, 10**6),
        remaining=st.integers(0, 10**6),
        available_at=st.datetimes(
            min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
        ),
        expires_at=st.none()
        | st.datetimes(
            min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
        ),
    ),
    max_size=20,
    unique_by=lambda view: view.lot_id,
)


@given(lots=lot_views, points=st.integers(0, 10**7))
def test_allocate_takes_exactly_what_is_asked_or_everything_there_is(lots, points):
    remaining = {view.lot_id: view.remaining for view in lots}

    plan = allocate(lots, points)

    assert sum(taken for _, taken in plan) == min(points, sum(remaining.values()))
    assert all(0 < taken <= remaining[lot_id] for lot_id, taken in plan)
    assert len({lot_id for lot_id, _ in plan}) == len(plan)


@given(lots=lot_views, points=st.integers(1, 10**7))
def test_allocate_only_touches_a_later_lot_once_every_sooner_one_is_empty(lots, points):
    plan = dict(allocate(lots, points))
    by_id = {view.lot_id: view for view in lots}

    def key(view: LotView) -> tuple:
        return (view.expires_at is None, view.expires_at or view.available_at)

    for lot_id in plan:
        for other in lots:
            if other.remaining and key(other) < key(by_id[lot_id]):
                assert plan.get(other.lot_id) == other.remaining


def test_points_never_expire_when_months_is_zero():
    assert expiry_moment(T0, 0, "Asia/Shanghai") is None


@pytest.mark.parametrize(
    ("earned_at", "zone", "expires_utc"),
    [
        # 20:00 UTC on 15 Jan is already 04:00 on 16 Jan in Shanghai (UTC+8).
        (
            datetime(2026, 1, 15, 20, tzinfo=UTC),
            "Asia/Shanghai",
            datetime(2026, 2, 16, 15, 59, 59, 999999, tzinfo=UTC),
        ),
        (
            datetime(2026, 1, 15, 20, tzinfo=UTC),
            "UTC",
            datetime(2026, 2, 15, 23, 59, 59, 999999, tzinfo=UTC),
        ),
        (
            datetime(2026, 1, 15, 3, tzinfo=UTC),
            "America/New_York",
            datetime(2026, 2, 15, 4, 59, 59, 999999, tzinfo=UTC),
        ),
    ],
)
def test_points_expire_at_the_end_of_the_merchants_local_day(earned_at, zone, expires_utc):
    assert expiry_moment(earned_at, 1, zone) == expires_utc


@pytest.mark.parametrize(
    ("earned_on", "months", "last_day"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 5, 10), 12, date(2027, 5, 10)),
        (date(2026, 5, 10), 120, date(2036, 5, 10)),
    ],
)
def test_month_arithmetic_clamps_to_the_last_day_of_a_short_month(earned_on, months, last_day):
    assert add_months(earned_on, months) == last_day
    earned_at = datetime.combine(earned_on, datetime.min.time(), tzinfo=UTC).replace(hour=12)
    assert expiry_moment(earned_at, months, "UTC") == datetime.combine(
        last_day, datetime.max.time(), tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("zone", "earned_at", "expiry_utc"),
    [
        # Berlin in summer is UTC+2: the local day ends at 21:59:59.999999 UTC.
        (
            "Europe/Berlin",
            datetime(2026, 6, 10, 8, tzinfo=UTC),
            datetime(2026, 7, 10, 21, 59, 59, 999999, tzinfo=UTC),
        ),
        # Earned in winter (UTC+1), expires in summer (UTC+2): the expiry day's offset counts.
        (
            "Europe/Berlin",
            datetime(2026, 3, 1, 8, tzinfo=UTC),
            datetime(2026, 4, 1, 21, 59, 59, 999999, tzinfo=UTC),
        ),
        # Santiago falls back at midnight: 23:00-24:00 on 6 April 2024 happens twice, and
        # the day ends after the second one, at 04:00 UTC on 7 April.
        (
            "America/Santiago",
            datetime(2024, 3, 6, 15, tzinfo=UTC),
            datetime(2024, 4, 7, 3, 59, 59, 999999, tzinfo=UTC),
        ),
        # Santiago springs forward at midnight: 7 September 2024 ends at 04:00 UTC.
        (
            "America/Santiago",
            datetime(2024, 8, 7, 15, tzinfo=UTC),
            datetime(2024, 9, 8, 3, 59, 59, 999999, tzinfo=UTC),
        ),
    ],
)
def test_expiry_follows_daylight_saving_time(zone, earned_at, expiry_utc):
    assert expiry_moment(earned_at, 1, zone) == expiry_utc


ZONES = ["UTC", "Asia/Shanghai", "Europe/Berlin", "America/Santiago", "Australia/Lord_Howe"]


@given(
    earned_at=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2037, 1, 1), timezones=st.just(UTC)
    ),
    months=st.integers(1, 120),
    zone=st.sampled_from(ZONES),
)
def test_expiry_is_the_last_instant_of_the_local_day_months_later(earned_at, months, zone):
    local = ZoneInfo(zone)
    expires_at = expiry_moment(earned_at, months, zone)
    assert expires_at is not None
    last_day = add_months(earned_at.astimezone(local).date(), months)

    next_instant = (expires_at.astimezone(UTC) + timedelta(microseconds=1)).astimezone(local)

    assert expires_at.astimezone(local).date() == last_day
    # The very next instant already belongs to the following local day. (It is usually
    # midnight; where clocks spring forward at midnight, as in Santiago, the day starts
    # at 01:00, so its time of day says nothing.)
    assert next_instant.date() == last_day + timedelta(days=1)
    assert expires_at > earned_at


def test_expiry_on_a_day_after_a_spring_forward_at_midnight_ends_that_day():
    # 14 August 2016 began at 01:00 in Santiago: clocks jumped from 00:00 to 01:00.
    expires_at = expiry_moment(datetime(2016, 7, 14, 12, tzinfo=UTC), 1, "America/Santiago")

    assert expires_at is not None
    local = expires_at.astimezone(ZoneInfo("America/Santiago"))
    assert (local.date(), local.hour, local.minute) == (date(2016, 8, 14), 23, 59)


def test_points_become_available_after_the_pending_days():
    assert available_moment(T0, 0) == T0
    assert available_moment(T0, 14) == T0 + timedelta(days=14)
