"""The earliest moment each periodic task of the plugin has work, in one statement.

Each a MIN over a partial index: carts to look at, messages to send, lots and reward codes
to expire, flow enrolments to check.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from django.db import connection

from ..constants import CART_FLOW
from ..models import EnrolmentState, FlowEnrolment, FlowMessage, PointsLot, Redemption
from ..services.stored_moments import stored_moment

if TYPE_CHECKING:
    from datetime import datetime

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


def read_due_moments() -> dict[str, datetime | None]:
    """The earliest moment of each of ``DUE_KINDS`` (None: nothing of it waits), aware."""
    with connection.cursor() as cursor:
        cursor.execute(next_due_sql())
        row = cursor.fetchone() or (None,) * len(DUE_KINDS)
    return dict(zip(DUE_KINDS, map(stored_moment, row), strict=True))
