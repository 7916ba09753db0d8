"""The earliest moment each periodic task of the plugin has work, in one statement.

Each a MIN over a partial index: carts to look at, messages to send, lots and reward codes
to expire, flow enrolments to check.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from django.db import connection
from django.utils.dateparse import parse_datetime

from ..models import EnrolmentState, FlowEnrolment, FlowMessage, PointsLot, Redemption, TrackedCart

DUE_KINDS = ("carts", "messages", "lots", "codes", "enrolments")


@functools.cache
def next_due_sql() -> str:
    quote = connection.ops.quote_name
    cart, message = quote(TrackedCart._meta.db_table), quote(FlowMessage._meta.db_table)
    lot, redemption = quote(PointsLot._meta.db_table), quote(Redemption._meta.db_table)
    enrolment = quote(FlowEnrolment._meta.db_table)
    return (
        f"SELECT (SELECT MIN(next_check_at) FROM {cart}"
        "        WHERE state = 'open' AND next_check_at IS NOT NULL),"
        f"       (SELECT MIN(next_attempt_at) FROM {message}"
        "        WHERE state IN ('scheduled', 'deferred')),"
        f"       (SELECT MIN(expires_at) FROM {lot}"
        "        WHERE remaining > 0 AND expires_at IS NOT NULL),"
        f"       (SELECT MIN(expires_at) FROM {redemption}"
        "        WHERE status = 'issued' AND expires_at IS NOT NULL),"
        f"       (SELECT MIN(next_check_at) FROM {enrolment}"
        f"        WHERE state = '{EnrolmentState.ACTIVE.value}' AND next_check_at IS NOT NULL)"
    )


def as_moment(value: object) -> datetime | None:
    """A timestamp as the database returns it (SQLite: text in UTC), as an aware datetime."""
    if value is None:
        return None
    moment = parse_datetime(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
