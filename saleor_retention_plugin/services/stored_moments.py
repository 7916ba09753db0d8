"""A timestamp read by a hand-written statement, as an aware datetime on every database.

PostgreSQL's driver returns aware datetimes; SQLite returns the stored UTC text (or, for
some expressions, a naive UTC datetime). The ORM converts these itself; raw cursors do not.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime


def stored_moment(value: object) -> datetime | None:
    """``value`` (None, text in UTC, a naive UTC or an aware datetime) as an aware datetime.

    Raises TypeError for anything else.
    """
    if value is None:
        return None
    moment = parse_datetime(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise TypeError(f"not a stored timestamp: {value!r}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
