"""The earliest moment each periodic task of the plugin has work, in one statement.

Each a MIN over a partial index: carts to look at, messages to send, lots and reward codes
to expire, flow enrolments to check.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from django.db import connection
from django.utils.dateparse import parse_datetime

from ..constants import CART_FLOW
from ..models import EnrolmentState, FlowEnrolment, FlowMessage, PointsLot, Redemption

DUE_KINDS = ("carts", "messages", "lots", "codes", "enrolments")


@functools.cache
def next_due_sql() -> str:
    quote = connection.ops.quote_name
    message = quote(FlowMessage._meta.db_table)
    lot, redemption = quote(PointsLot._meta.db_table), quote(Redemption._meta.db_table)
    enrolment = quote(FlowEnrolment._meta.db_table)
    active = EnrolmentState.ACTIVE.value
    # Carts are enrolments of the cart flow; "enrolments" are every other flow's.
    return (
        f"SELECT (SELECT MIN(next_check_at) FROM {enrolment}"
        f"        WHERE flow = '{CART_FLOW}' AND state = '{active}'"
        "         AND next_check_at IS NOT NULL),"
        f"       (SELECT MIN(next_attempt_at) FROM {message}"
        "        WHERE state IN ('scheduled', 'deferred')),"
        f"       (SELECT MIN(expires_at) FROM {lot}"
        "        WHERE remaining > 0 AND expires_at IS NOT NULL),"
        f"       (SELECT MIN(expires_at) FROM {redemption}"
        "        WHERE status = 'issued' AND expires_at IS NOT NULL),"
        f"       (SELECT MIN(next_check_at) FROM {enrolment}"
        f"        WHERE flow <> '{CART_FLOW}' AND state = '{active}'"
        "         AND next_check_at IS NOT NULL)"
    )


def as_moment(value: object) -> datetime | None:
    """A timestamp as the database returns it (SQLite: text in UTC), as an aware datetime."""
    if value is None:
        return None
    moment = parse_datetime(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
