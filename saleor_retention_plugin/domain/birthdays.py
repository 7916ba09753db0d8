"""Birthdays: which day a birthday falls on in a given year, and when to greet. Pure rules.

A customer born on 29 February is celebrated on 28 February in years without one (the
last day of February they would otherwise miss). The greeting goes out at a configured
hour of the customer's morning, read on the wall clock of their timezone (or the
channel's when theirs is unknown), on their local birthday; it stays due until the end of
that local day, so a late sweep still greets the same day and never a day late. A year is
the customer's local year of the birthday: each customer is greeted once per such year.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

DEFAULT_GREETING_HOUR = 9


def birthday_in_year(month: int, day: int, year: int) -> date:
    """The date celebrated in ``year``; 29 February becomes 28 February in common years."""
    if (month, day) == (2, 29) and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, month, day)


def greeting_moment(month: int, day: int, year: int, zone: ZoneInfo, hour: int) -> datetime:
    """The aware moment of ``year``'s greeting: ``hour``:00 local on the birthday.

    On a day whose ``hour`` does not exist (clocks jump forward through it) the greeting
    goes out at the same instant as the local clock's first reading after the jump; on a
    day it happens twice, at the first.
    """
    local = datetime.combine(birthday_in_year(month, day, year), time(hour), tzinfo=zone)
    # Round-trip through UTC: a wall time inside a DST gap becomes a real instant.
    return local.astimezone(zone)


def greeting_due_year(month: int, day: int, now: datetime, zone: ZoneInfo, hour: int) -> int | None:
    """The local year whose greeting is due at ``now``, or None if none is due.

    Due from ``greeting_moment`` until the local birthday ends.
    """
    local_now = now.astimezone(zone)
    year = local_now.year
    celebrated = birthday_in_year(month, day, year)
    if local_now.date() != celebrated:
        return None
    if now < greeting_moment(month, day, year, zone, hour):
        return None
    return year


def birthdays_on(local_day: date) -> tuple[tuple[int, int], ...]:
    """The (month, day) pairs celebrated on ``local_day``.

    28 February of a common year also celebrates those born on 29 February.
    """
    pairs = [(local_day.month, local_day.day)]
    if (local_day.month, local_day.day) == (2, 28) and not calendar.isleap(local_day.year):
        pairs.append((2, 29))
    return tuple(pairs)


def greeting_changes_after(now: datetime, zone: ZoneInfo, hour: int) -> datetime:
    """The first moment after ``now`` at which ``greeting_due_year`` may answer otherwise.

    Today's greeting moment (``hour``:00 local, as ``greeting_moment``) while it is ahead,
    else the next local midnight (a clock change at midnight: the first instant of the
    next day). Until then the local day and whether the hour has come stay as at ``now``.
    """
    today = now.astimezone(zone).date()
    moment = datetime.combine(today, time(hour), tzinfo=zone).astimezone(zone)
    if now < moment:
        return moment
    return datetime.combine(today + timedelta(days=1), time.min, tzinfo=zone).astimezone(zone)
