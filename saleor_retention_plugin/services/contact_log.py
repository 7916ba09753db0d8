"""The frequency cap's record: who was contacted when, one reservation per message and key.

The outbox (``services.flows``) reserves a contact under the row lock before it sends,
moves it on a retry and drops it when nothing went out; the cap reads the recipient's
last contact across every flow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connection

from ..models import ContactLogEntry, FlowMessage, MarketingOptOut, MessageState
from . import consent
from .consent import recipient_key
from .stored_moments import stored_moment

if TYPE_CHECKING:
    from datetime import datetime


def standing_before_send(
    keys: list[str], message_id: int, *, customer_id: int | None, email: str | None
) -> tuple[bool, datetime | None, bool]:
    """Whether the recipient opted out, their last contact, and whether this one is reserved.

    What the outbox reads right before a send, under its locks: an opt-out by id or email
    in any channel (``consent.is_opted_out``'s meaning), the last contact by another
    message under any of ``keys`` (the frequency cap's), and whether this message holds a
    reservation (an earlier attempt's, under any key). One statement, written by hand:
    every delivery asks it, and building it with the ORM cost over ten times running it.
    """
    who = consent.opt_out_match(email=email, customer_id=customer_id)
    opted_out_params: list[int | str] = []
    if who is None:
        opted_out_sql = "0"
    else:
        condition, opted_out_params = who
        optouts = connection.ops.quote_name(MarketingOptOut._meta.db_table)
        opted_out_sql = f"EXISTS(SELECT 1 FROM {optouts} WHERE {condition})"
    table = connection.ops.quote_name(ContactLogEntry._meta.db_table)
    marks = ", ".join(["%s"] * len(keys)) or "NULL"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {opted_out_sql},"
            " MAX(CASE WHEN message_id <> %s THEN contacted_at END),"
            " COUNT(CASE WHEN message_id = %s THEN 1 END)"
            f" FROM {table} WHERE recipient_key IN ({marks}) OR message_id = %s",
            [*opted_out_params, message_id, message_id, *keys, message_id],
        )
        opted_out, last, reserved = cursor.fetchone()
    return bool(opted_out), stored_moment(last), reserved > 0


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
