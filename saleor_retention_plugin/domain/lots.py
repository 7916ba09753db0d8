"""Earn lots: which points a spend consumes and when points expire.

Every credit of points is a lot with its own availability and expiry date. Spends and
take-backs consume the lots that expire soonest first, so customers lose as little as
possible to expiry.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from collections.abc import Iterable


@dataclass(frozen=True)
class LotView:
    lot_id: int
    remaining: int
    available_at: datetime
    expires_at: datetime | None


def consumption_order(lot: LotView) -> tuple[bool, datetime, datetime, int]:
    # Lots that never expire go last; ties broken by age, then id, so the order is total.
    return (
        lot.expires_at is None,
        lot.expires_at or lot.available_at,
        lot.available_at,
        lot.lot_id,
    )


def allocate(lots: Iterable[LotView], points: int) -> list[tuple[int, int]]:
    """Take up to ``points`` from ``lots``, soonest-expiring first: ``[(lot_id, taken)]``."""
    if points < 0:
        raise ValueError("points to allocate must not be negative")
    taken: list[tuple[int, int]] = []
    left = points
    for lot in sorted(lots, key=consumption_order):
        if left == 0:
            break
        take = min(lot.remaining, left)
        if take > 0:
            taken.append((lot.lot_id, take))
            left -= take
    return taken


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def expiry_moment(earned_at: datetime, months: int, timezone: str) -> datetime | None:
    """End of the day, in the merchant's timezone, ``months`` after ``earned_at``.

    ``months == 0`` means the points never expire. The result is an aware datetime; the
    last representable instant of the local day, so points earned on 31 January with one
    month expire at the end of 28/29 February.
    """
    if months <= 0:
        return None
    zone = ZoneInfo(timezone)
    local_day = earned_at.astimezone(zone).date()
    last_day = add_months(local_day, months)
    start_of_next_day = datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=zone)
    # Step back in UTC, not on the local wall clock: where clocks fall back at midnight
    # (America/Santiago) 23:59:59 happens twice, and the day ends after the second one.
    return start_of_next_day.astimezone(UTC) - timedelta(microseconds=1)


def available_moment(earned_at: datetime, pending_days: int) -> datetime:
    return earned_at + timedelta(days=pending_days)
