"""The frequency cap's record: who was contacted when, one reservation per message and key.

The outbox (``services.flows``) reserves a contact under the row lock before it sends,
moves it on a retry and drops it when nothing went out; the cap reads the recipient's
last contact across every flow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connection

from ..models import ContactLogEntry, FlowMessage, MessageState
from .consent import recipient_key
from .stored_moments import stored_moment

if TYPE_CHECKING:
    from datetime import datetime


def last_contact(keys: list[str], message_id: int) -> tuple[datetime | None, bool]:
    """The recipient's last contact by another message, and whether this one is reserved.

    A reservation of this message is an earlier attempt's, under any key. One statement,
    written by hand: every delivery asks it, and building it with the ORM cost over ten
    times running it.
    """
    table = connection.ops.quote_name(ContactLogEntry._meta.db_table)
    marks = ", ".join(["%s"] * len(keys)) or "NULL"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT MAX(CASE WHEN message_id <> %s THEN contacted_at END),"
            " COUNT(CASE WHEN message_id = %s THEN 1 END)"
            f" FROM {table} WHERE recipient_key IN ({marks}) OR message_id = %s",
            [message_id, message_id, *keys, message_id],
        )
        last, reserved = cursor.fetchone()
    return stored_moment(last), reserved > 0


def contact_before_delivery(
    keys: list[str], customer_id: int | None, email: str | None, now: datetime
) -> tuple[datetime | None, bool]:
    """The recipient's last contact, and whether a message of theirs is due by ``now``.

    What a new message's delivery would read at ``now`` (it holds no reservation yet),
    and whether another message (matched by customer id or email; due, or claimed by a
    worker) would be delivered before it: one that may reach the recipient first and
    move the cap. One statement.
    """
    log = connection.ops.quote_name(ContactLogEntry._meta.db_table)
    outbox = connection.ops.quote_name(FlowMessage._meta.db_table)
    marks = ", ".join(["%s"] * len(keys)) or "NULL"
    due_by = FlowMessage._meta.get_field("next_attempt_at").get_db_prep_value(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX(contacted_at) FROM {log} WHERE recipient_key IN ({marks})),"
            f" EXISTS(SELECT 1 FROM {outbox}"
            " WHERE ((state IN (%s, %s) AND next_attempt_at <= %s) OR state = %s)"
            " AND (customer_id = %s OR recipient_email = %s))",
            [
                *keys,
                MessageState.SCHEDULED.value,
                MessageState.DEFERRED.value,
                due_by,
                MessageState.CLAIMED.value,
                customer_id,
                email,
            ],
        )
        last, other_due = cursor.fetchone()
    return stored_moment(last), bool(other_due)


def recipient_keys(customer_id: int | None, email: str | None) -> list[str]:
    """Every key the frequency cap knows this recipient by, sorted (the lock order)."""
    keys = []
    if customer_id is not None:
        keys.append(recipient_key(customer_id, None))
    if email:
        keys.append(recipient_key(None, email))
    return sorted(keys)
