"""What the lifecycle flows' kept due rows share: the due subject, the refresh, the cycle.

``services.replenishment`` and ``services.winback`` each keep one row per subject with
its next due moment, kept per channel by a periodic refresh (``refresh_channel``) and
read by index range into ``DueSubject`` values.

The refresh is incremental: it re-plans only the customers whose purchase history
changed since the flow's watermark (``models.LifecycleRefreshState``): orders written
since (``PurchasedOrder.recorded_at``, which the intake, the backfill, refunds and
cancellations, guest merges and anonymisation all stamp), orders placed since the last
refresh's ``now``, and the customers whose kept row is anchored on one of those orders
(the old key of a merged or anonymised customer). Its cost follows those customers, not
the history. A full rebuild (every customer, and the product medians) runs on the first
refresh, after a settings change, on ``rebuild=True`` and once ``FULL_REBUILD_EVERY`` has
passed. Time passing needs no re-plan: the rows hold the moment they fall due.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.db.models import Max, Q

from ..models import LifecycleRefreshState, PurchasedOrder

if TYPE_CHECKING:
    from collections.abc import Callable, Collection
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
    """What a refresh did.

    ``planned``: rows (re)written; ``removed``: stale rows dropped; ``full``: a rebuild of
    every customer (else only the ``customers`` whose history changed were re-planned).
    """

    channel: str
    planned: int
    removed: int
    full: bool = True
    customers: int = 0


# The longest a product median (and any drift a missed change could leave) may lag.
FULL_REBUILD_EVERY = timedelta(days=1)
# Orders recorded up to this long before the watermark are read again: a transaction that
# stamped ``recorded_at`` before the last refresh may have committed after it.
WATERMARK_OVERLAP = timedelta(minutes=15)


def settings_digest(**parameters: Any) -> str:
    """A stable digest of the planning parameters (a change forces a full rebuild)."""
    text = repr(sorted((key, repr(value)) for key, value in parameters.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def cycle_of(anchor_at: datetime) -> int:
    """The enrolment cycle of a series anchored at ``anchor_at``: its UTC day, ``YYYYMMDD``."""
    day = anchor_at.astimezone(UTC).date()
    return day.year * 10000 + day.month * 100 + day.day


def changed_customers(
    model: type[Model],
    channel: str,
    state: LifecycleRefreshState,
    now: datetime,
    anchor_field: str,
) -> tuple[set[str], datetime | None]:
    """Customer keys whose history changed since ``state``, and the new watermark.

    Reads the ``(channel, recorded_at)`` and ``(channel, placed_at)`` index ranges and the
    kept rows anchored on the orders found (``anchor_field``: the row's order id column).
    """
    orders = PurchasedOrder.objects.filter(channel_slug=channel)
    changed = Q(placed_at__gt=state.planned_until, placed_at__lte=now)
    if state.watermark_at is not None:
        changed |= Q(recorded_at__gt=state.watermark_at - WATERMARK_OVERLAP)
    else:
        changed |= Q(recorded_at__isnull=False)
    found = list(orders.filter(changed).values_list("order_id", "customer_key", "recorded_at"))
    keys = {key for _, key, _ in found if not key.startswith("anonymised:")}
    order_ids = [order_id for order_id, _, _ in found]
    rows = model._default_manager.filter(channel_slug=channel)
    for start in range(0, len(order_ids), 5000):
        keys.update(
            rows.filter(**{f"{anchor_field}__in": order_ids[start : start + 5000]}).values_list(
                "customer_key", flat=True
            )
        )
    stamps = [recorded for _, _, recorded in found if recorded is not None]
    latest = max(stamps, default=None)
    if state.watermark_at is not None and (latest is None or latest < state.watermark_at):
        latest = state.watermark_at
    return keys, latest


def refresh_channel(
    model: type[Model],
    flow: str,
    channel: str,
    now: datetime,
    *,
    digest: str,
    rebuild: bool,
    set_based: bool | None,
    anchor_field: str,
    full: Callable[[bool], int],
    partial: Callable[[bool, Collection[str]], int],
) -> RefreshResult:
    """Refresh the channel's kept rows: incrementally, or in full when it must (above).

    ``full(set_based)`` plans every customer, ``partial(set_based, keys)`` the given
    customers; both stamp the rows they write ``computed_at=now``. Rows of the planned
    customers not rewritten are dropped, in the same transaction as the plan and the
    state's update: readers see the old rows or the new ones, never a mix.
    """
    if set_based is None:
        set_based = connection.vendor == "postgresql"
    with transaction.atomic():
        state = (
            LifecycleRefreshState.objects.select_for_update()
            .filter(channel_slug=channel, flow=flow)
            .first()
        )
        must_rebuild = (
            rebuild
            or state is None
            or state.settings_digest != digest
            or not state.rebuilt_at <= now < state.rebuilt_at + FULL_REBUILD_EVERY
            or now < state.planned_until
        )
        rows = model._default_manager.filter(channel_slug=channel)
        if must_rebuild:
            latest = PurchasedOrder.objects.filter(channel_slug=channel).aggregate(
                latest=Max("recorded_at")
            )["latest"]
            planned = full(set_based)
            removed, _ = rows.exclude(computed_at=now).delete()
            customers = 0
            rebuilt_at = now
        else:
            assert state is not None
            keys, latest = changed_customers(model, channel, state, now, anchor_field)
            planned = partial(set_based, sorted(keys)) if keys else 0
            removed = 0
            key_list = sorted(keys)
            for start in range(0, len(key_list), 5000):
                batch = key_list[start : start + 5000]
                gone, _ = rows.filter(customer_key__in=batch).exclude(computed_at=now).delete()
                removed += gone
            customers = len(keys)
            rebuilt_at = state.rebuilt_at
        written = {
            "settings_digest": digest,
            "watermark_at": latest,
            "planned_until": now,
            "rebuilt_at": rebuilt_at,
        }
        # The row is locked above when it exists: one UPDATE, not update_or_create's
        # savepoint, read and write.
        if state is not None:
            LifecycleRefreshState.objects.filter(pk=state.pk).update(**written)
        else:  # the first refresh (a concurrent first one may have created it)
            LifecycleRefreshState.objects.update_or_create(
                channel_slug=channel, flow=flow, defaults=written
            )
    return RefreshResult(channel, planned, removed, must_rebuild, customers)


def forget_channel(model: type[Model], channel: str, flow: str) -> int:
    """Drop the channel's kept rows and refresh state (the flow was switched off)."""
    removed, _ = model._default_manager.filter(channel_slug=channel).delete()
    LifecycleRefreshState.objects.filter(channel_slug=channel, flow=flow).delete()
    return removed
