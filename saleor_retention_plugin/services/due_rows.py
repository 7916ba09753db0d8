"""What the lifecycle flows' kept due rows share: the due subject, the rebuild, the cycle.

``services.replenishment`` and ``services.winback`` each keep one row per subject with
its next due moment, rebuilt per channel by a periodic refresh (``rebuild_channel``: the
set-based statement or the pure rules, then the rows not rewritten are dropped, in one
transaction) and read by index range into ``DueSubject`` values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from django.db.models import Model


@dataclass(frozen=True)
class DueSubject:
    """One subject a flow should enrol (or message) now, shaped like the engine's request.

    The fields map one to one onto ``services.enrolments.EnrolmentRequest`` (docs/flows.md):
    ``Subject(subject_kind, subject_key)``, ``channel_slug``, ``anchor_at`` (the moment the
    series counts from: the last purchase or order), ``customer_id``, ``email``, ``cycle``
    (the anchor's day as ``YYYYMMDD``: a later order starts a new cycle) and ``data``
    (JSON-native). ``due_at`` is when step ``step`` (1-based) is due. ``customer_key`` is
    the purchase history's key, for the re-checks.
    """

    flow: str
    subject_kind: str
    subject_key: str
    channel_slug: str
    customer_key: str
    customer_id: int | None
    email: str | None
    anchor_at: datetime
    due_at: datetime
    cycle: int
    step: int = 1
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefreshResult:
    channel: str
    planned: int
    removed: int


def cycle_of(anchor_at: datetime) -> int:
    """The enrolment cycle of a series anchored at ``anchor_at``: its UTC day, ``YYYYMMDD``."""
    day = anchor_at.astimezone(UTC).date()
    return day.year * 10000 + day.month * 100 + day.day


def rebuild_channel(
    model: type[Model],
    channel: str,
    now: datetime,
    *,
    set_based: bool | None,
    in_sql: Callable[[], int],
    in_python: Callable[[], int],
) -> RefreshResult:
    """Rewrite the channel's rows stamped ``computed_at=now``, then drop the others.

    ``set_based`` None lets the database decide (the SQL on PostgreSQL). Readers see the
    old rows or the new ones, never a mix.
    """
    if set_based is None:
        set_based = connection.vendor == "postgresql"
    with transaction.atomic():
        planned = in_sql() if set_based else in_python()
        removed, _ = (
            model._default_manager.filter(channel_slug=channel).exclude(computed_at=now).delete()
        )
    return RefreshResult(channel, planned, removed)


def forget_channel(model: type[Model], channel: str) -> int:
    """Drop the channel's kept rows (the flow was switched off); returns how many."""
    removed, _ = model._default_manager.filter(channel_slug=channel).delete()
    return removed
