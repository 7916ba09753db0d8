"""Spending, manual adjustments and expiry: the ledger's other writes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from ... import signals
from ...domain.lots import expiry_moment
from ...models import PointsEntry, PointsLot
from .entries import (
    MAX_ADJUSTMENT,
    InsufficientPoints,
    InvalidPoints,
    LedgerError,
    _append,
    _check_idempotency_key,
    _check_points,
    _consume,
    _credit,
    _earlier_entry,
    _lock,
    _lock_live,
    _plan,
    _signal_args,
    _texts_details,
)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from ...conf import LedgerSettings

logger = logging.getLogger(__name__)


def spend_points(
    account_id: int,
    points: int,
    *,
    idempotency_key: str,
    reason: str = "",
    texts: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> PointsEntry:
    """Spend ``points`` of the account's spendable points, soonest-expiring first.

    Raises ``InsufficientPoints`` (and changes nothing) when the account has fewer
    spendable points; pending points cannot be spent. A repeated ``idempotency_key``
    returns the entry of the first call instead of spending again. ``texts`` are what the
    customer reads about the entry, by language (``{"en": ..., "zh-Hans": ...}``), kept
    in ``details["texts"]``; ``reason`` stays the (English) record.
    """
    _check_points(points)
    _check_idempotency_key(idempotency_key)
    now = now or timezone.now()
    existing = _earlier_entry(idempotency_key, account_id, -points)
    if existing is not None:
        return existing
    with transaction.atomic():
        account = _lock(account_id)
        existing = _earlier_entry(idempotency_key, account_id, -points)
        if existing is not None:
            return existing
        spendable_lots = list(PointsLot.objects.filter(account=account).spendable_at(now))
        available = min(sum(lot.remaining for lot in spendable_lots), max(account.balance, 0))
        if points > available:
            raise InsufficientPoints(
                f"Not enough points: {points} requested, {available} available to spend."
            )
        plan = _plan(spendable_lots, points)
        entry = _append(
            account,
            kind=PointsEntry.Kind.REDEEM,
            points=-points,
            idempotency_key=idempotency_key,
            reason=reason,
            details=_texts_details(texts),
            now=now,
        )
        _consume(plan)
        account.balance -= points
        account.save(update_fields=["balance", "updated_at"])
    signals.send_after_commit(
        signals.points_spent, **_signal_args(account, entry), points=points, reason=reason
    )
    return entry


def adjust_points(
    account_id: int,
    points: int,
    *,
    reason: str,
    actor: str,
    idempotency_key: str,
    settings: LedgerSettings,
    texts: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> PointsEntry:
    """A manual correction by staff or an app, with a required reason (audited).
    ``texts``: what the customer reads about it by language, as for ``spend_points``.

    Positive adjustments become a lot that is spendable at once and expires like earned
    points; negative ones take from the soonest-expiring lots and may not take the balance
    below zero.
    """
    if not isinstance(points, int) or isinstance(points, bool) or points == 0:
        raise InvalidPoints("Enter a whole, non-zero number of points.")
    if abs(points) > MAX_ADJUSTMENT:
        raise InvalidPoints(f"Adjust by at most {MAX_ADJUSTMENT} points at once.")
    if not reason or not reason.strip():
        raise LedgerError("A reason is required for a manual adjustment.")
    _check_idempotency_key(idempotency_key)
    now = now or timezone.now()
    existing = _earlier_entry(idempotency_key, account_id, points)
    if existing is not None:
        return existing
    with transaction.atomic():
        # An account merged since the caller read it (a guest's) books on its target.
        account = _lock_live(account_id)
        # Re-check under the lock: a concurrent delivery of the same adjustment may have
        # committed while we waited, and must be returned rather than hit the unique key.
        existing = _earlier_entry(idempotency_key, account_id, points)
        if existing is not None:
            return existing
        if points > 0:
            entry = _credit(
                account,
                points,
                kind=PointsEntry.Kind.ADJUST,
                idempotency_key=idempotency_key,
                order=None,
                available_at=now,
                expires_at=expiry_moment(now, settings.expiry_months, settings.timezone),
                reason=reason.strip(),
                actor=actor,
                details=_texts_details(texts),
                now=now,
            )
        else:
            lots = list(PointsLot.objects.filter(account=account).open())
            if -points > max(account.balance, 0):
                raise InsufficientPoints(
                    f"Cannot take {-points} points: the balance is {account.balance}."
                )
            plan = _plan(lots, -points)
            entry = _append(
                account,
                kind=PointsEntry.Kind.ADJUST,
                points=points,
                idempotency_key=idempotency_key,
                reason=reason.strip(),
                actor=actor,
                details=_texts_details(texts),
                now=now,
            )
            _consume(plan)
            account.balance += points
            account.save(update_fields=["balance", "updated_at"])
    signals.send_after_commit(
        signals.points_adjusted,
        **_signal_args(account, entry),
        points=abs(points),
        delta=points,
        reason=entry.reason,
        actor=actor,
    )
    return entry


def expire_due_points(now: datetime | None = None, *, batch_size: int = 500) -> int:
    """Expire what is left of every lot whose expiry has passed; returns points expired.

    Works in batches driven by the partial index on ``expires_at``, so its cost grows with
    the number of expiring lots, not with the size of the ledger. Safe to run concurrently
    and repeatedly: each lot expires under its own unique key.
    """
    now = now or timezone.now()
    expired_points = 0
    while True:
        due = list(
            PointsLot.objects.expired_by(now)
            .order_by("expires_at", "pk")
            .values_list("pk", "account_id")[:batch_size]
        )
        if not due:
            return expired_points
        for lot_id, account_id in due:
            expired_points += expire_lot(lot_id, account_id, now)
        if len(due) < batch_size:
            return expired_points


def expire_lot(lot_id: int, account_id: int, now: datetime) -> int:
    """Expire what is left of one lot the sweep listed as ``(lot_id, account_id)``;
    returns the points expired (0 if nothing was left or it is not due).

    ``account_id`` is only what the sweep saw: a guest merge may have moved the lot since.
    The lot's current account is read, locked alone (never two accounts at once, so no
    lock order can deadlock with a merge, which locks guest and customer together), and
    the lot read again under that lock; if a merge moved it in between, start over.
    """
    del account_id  # a hint from the sweep; the lot's current account is what counts
    while True:
        with transaction.atomic():
            current = (
                PointsLot.objects.filter(pk=lot_id).values_list("account_id", flat=True).first()
            )
            if current is None:
                return 0
            account = _lock(current)
            lot = PointsLot.objects.get(pk=lot_id)
            if lot.account_id != account.pk:
                continue  # moved by a merge between the read and the lock: read again
            if lot.remaining == 0 or lot.expires_at is None or lot.expires_at > now:
                return 0
            points = lot.remaining
            entry = _append(
                account,
                kind=PointsEntry.Kind.EXPIRE,
                points=-points,
                idempotency_key=f"lot:{lot.pk}:expire",
                details={"lot_id": lot.pk, "expired_at": lot.expires_at.isoformat()},
                now=now,
            )
            PointsLot.objects.filter(pk=lot.pk).update(remaining=0)
            account.balance -= points
            account.save(update_fields=["balance", "updated_at"])
            break
    signals.send_after_commit(signals.points_expired, **_signal_args(account, entry), points=points)
    return points
