"""Recording what customers did with a sent message: clicks, opens, reported deliveries.

Each write is idempotent in the sense that matters for the report: a replayed click
raises its link's count (first click time kept), a second open or a second report of
the same event changes nothing. A message that no longer exists (a forgotten customer's)
records nothing and is not an error. Callers (``delivery.tracking_views``, the sandbox)
pass ``now``; database errors propagate (the views answer 503).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest

from ..models import FlowMessage, MessageClick, MessageOpen, OpenSource

if TYPE_CHECKING:
    from datetime import datetime

    from ..delivery.tracking import TrackedLink

# What a webhook gateway may report (``tracking_views.message_events_view``).
REPORTED_EVENTS = ("delivered", "opened")


def _message_id(message_key: str) -> int | None:
    return (
        FlowMessage.objects.filter(idempotency_key=message_key).values_list("pk", flat=True).first()
    )


def record_click(link: TrackedLink, *, now: datetime) -> bool:
    """Count one click on ``link``; False when its message no longer exists."""
    message_id = _message_id(link.message_key)
    if message_id is None:
        return False
    digest = hashlib.sha256(link.target.encode()).hexdigest()
    same_link = MessageClick.objects.filter(
        message_id=message_id, link_kind=link.kind, target_digest=digest
    )

    def count_again() -> int:
        return same_link.update(
            click_count=F("click_count") + 1,
            last_clicked_at=Greatest(F("last_clicked_at"), Value(now)),
        )

    with transaction.atomic():
        if count_again():
            return True
        try:
            with transaction.atomic():
                MessageClick.objects.create(
                    message_id=message_id,
                    link_kind=link.kind,
                    target=link.target,
                    target_digest=digest,
                    first_clicked_at=now,
                    last_clicked_at=now,
                )
        except IntegrityError:
            count_again()  # a concurrent first click won the insert
    return True


def record_open(message_key: str, *, now: datetime, source: str = OpenSource.PIXEL) -> bool:
    """The message's first open; a later one changes nothing. False: no such message."""
    return _record(message_key, "opened_at", now=now, source=source)


def record_reported_event(message_key: str, event: str, *, now: datetime) -> bool:
    """A webhook gateway's report: ``"delivered"`` or ``"opened"`` (``ValueError`` else)."""
    if event not in REPORTED_EVENTS:
        raise ValueError(f"event must be one of {', '.join(REPORTED_EVENTS)}.")
    field = "delivered_at" if event == "delivered" else "opened_at"
    return _record(message_key, field, now=now, source=OpenSource.WEBHOOK)


def _record(message_key: str, field: str, *, now: datetime, source: str) -> bool:
    message_id = _message_id(message_key)
    if message_id is None:
        return False
    with transaction.atomic():
        try:
            with transaction.atomic():
                MessageOpen.objects.create(message_id=message_id, source=source, **{field: now})
                return True
        except IntegrityError:
            pass  # recorded before: fill the field only if it is still empty
        MessageOpen.objects.filter(message_id=message_id, **{f"{field}__isnull": True}).update(
            **{field: now}
        )
    return True
