"""The ledger's primitives: its errors, row locks, entries, lots and their signals.

Every write locks the account row first (``_lock``; ``_lock_live`` follows merges), appends
an entry under its unique idempotency key and moves lots; the signals go out after commit.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from ... import signals
from ...domain.lots import LotView, allocate
from ...models import LoyaltyAccount, PointsEntry, PointsLot
from ..errors import RetentionError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

    from ...domain.orders import OrderSnapshot

logger = logging.getLogger(__name__)


MAX_ADJUSTMENT = 10_000_000


class LedgerError(RetentionError):
    """A request the ledger refuses; the message is safe to show to the user."""

    code = "invalid"


class InsufficientPoints(LedgerError):
    code = "insufficient_points"


class InvalidPoints(LedgerError):
    code = "invalid_points"


class AccountNotFound(LedgerError):
    code = "not_found"


def _lock_live(account_id: int) -> LoyaltyAccount:
    """Lock the account, following merges: a merged guest's entries live on its target."""
    return _live(_lock(account_id))


def _live(account: LoyaltyAccount) -> LoyaltyAccount:
    """The locked ``account``, or the account it merged into, locked (following merges)."""
    while account.merged_into_id is not None:
        account = _lock(account.merged_into_id)
    return account


def _lock(account_id: int) -> LoyaltyAccount:
    try:
        return LoyaltyAccount.objects.select_for_update().get(pk=account_id)
    except LoyaltyAccount.DoesNotExist:
        raise AccountNotFound("No such loyalty account.") from None


def _earlier_entry(idempotency_key: str, account_id: int, points: int) -> PointsEntry | None:
    """The entry an earlier call with this key made, if any; a key reused for a different
    request (another account, another amount) is a caller's bug, refused loudly."""
    existing = PointsEntry.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    same_account = (
        existing.account_id == account_id
        # The entry moved when the account it was made on merged into another.
        or LoyaltyAccount.objects.filter(pk=account_id, merged_into=existing.account_id).exists()
    )
    if existing.points != points or not same_account:
        raise LedgerError("This idempotency key was already used for a different request.")
    return existing


def _check_idempotency_key(key: object) -> None:
    if not isinstance(key, str) or not key.strip():
        raise LedgerError("An idempotency key is required, so that a retry cannot count twice.")


def _check_points(points: object) -> None:
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        raise InvalidPoints("Enter a whole number of points greater than zero.")
    if points > MAX_ADJUSTMENT:
        raise InvalidPoints(f"At most {MAX_ADJUSTMENT} points at once.")


def _texts_details(texts: Mapping[str, str] | None) -> dict[str, Any]:
    return {"texts": dict(texts)} if texts else {}


def _append(
    account: LoyaltyAccount,
    *,
    kind: str,
    points: int,
    idempotency_key: str,
    now: datetime,
    order: OrderSnapshot | None = None,
    written_off: int = 0,
    reason: str = "",
    actor: str = "",
    details: dict | None = None,
) -> PointsEntry:
    return PointsEntry.objects.create(
        account=account,
        kind=kind,
        points=points,
        written_off=written_off,
        idempotency_key=idempotency_key,
        order_id=order.order_id if order else None,
        order_number=order.number if order else "",
        reason=reason,
        actor=actor,
        details=details or {},
        created_at=now,
    )


def _credit(
    account: LoyaltyAccount,
    points: int,
    *,
    kind: str,
    idempotency_key: str,
    order: OrderSnapshot | None,
    available_at: datetime,
    expires_at: datetime | None,
    now: datetime,
    reason: str = "",
    actor: str = "",
    details: dict | None = None,
    announce: bool = True,
) -> PointsEntry:
    entry = _append(
        account,
        kind=kind,
        points=points,
        idempotency_key=idempotency_key,
        order=order,
        reason=reason,
        actor=actor,
        details=details,
        now=now,
    )
    # A negative balance (debt) is repaid first; only the rest becomes spendable.
    repaid = min(points, max(-account.balance, 0))
    PointsLot.objects.create(
        account=account,
        entry=entry,
        order_id=order.order_id if order else None,
        points=points,
        remaining=points - repaid,
        available_at=available_at,
        expires_at=expires_at,
    )
    account.balance += points
    if kind == PointsEntry.Kind.EARN:
        account.lifetime_earned += points
    account.save(update_fields=["balance", "lifetime_earned", "updated_at"])
    if kind == PointsEntry.Kind.EARN and announce:
        signals.send_after_commit(
            signals.points_earned,
            **_signal_args(account, entry),
            points=points,
            order_id=order.order_id if order else None,
        )
    return entry


_ENTRIES, _LOTS, _ACCOUNTS = (
    model._meta.db_table for model in (PointsEntry, PointsLot, LoyaltyAccount)
)
# The entry (unless its key exists), its lot and the account's totals in one statement:
# the unique idempotency key decides, so nothing is read first. No row back: the key
# existed and nothing was written.
_CREDIT_ONCE = f"""
WITH entry AS (
    INSERT INTO {_ENTRIES} (account_id, kind, points, written_off, idempotency_key,
        order_id, order_number, reason, actor, details, created_at)
    VALUES (%(account)s, %(kind)s, %(points)s, 0, %(key)s, %(order_id)s, %(order_number)s,
        %(reason)s, %(actor)s, CAST(%(details)s AS jsonb), %(now)s)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), lot AS (
    INSERT INTO {_LOTS} (account_id, entry_id, order_id, points, remaining, available_at,
        expires_at)
    SELECT %(account)s, id, %(order_id)s, %(points)s, %(remaining)s, %(available_at)s,
        %(expires_at)s FROM entry
), totals AS (
    UPDATE {_ACCOUNTS} SET balance = %(balance)s, lifetime_earned = %(lifetime)s,
        updated_at = %(updated_at)s
    WHERE id = %(account)s AND EXISTS (SELECT 1 FROM entry)
)
SELECT id FROM entry"""


def _credit_once(
    account: LoyaltyAccount,
    points: int,
    *,
    kind: str,
    idempotency_key: str,
    order: OrderSnapshot | None,
    available_at: datetime,
    expires_at: datetime | None,
    now: datetime,
    details: dict | None = None,
    announce: bool = True,
) -> PointsEntry | None:
    """``_credit`` unless ``idempotency_key`` was used already: then None, nothing written.

    For a caller that did not read the key's entry under the account's lock (the order
    intake's first booking of an order). On PostgreSQL one statement writes the entry,
    its lot and the account's totals; elsewhere the ORM's three, in a savepoint.
    """
    if connection.vendor != "postgresql":
        try:
            with transaction.atomic():
                return _credit(
                    account,
                    points,
                    kind=kind,
                    idempotency_key=idempotency_key,
                    order=order,
                    available_at=available_at,
                    expires_at=expires_at,
                    now=now,
                    details=details,
                    announce=announce,
                )
        except IntegrityError:
            if PointsEntry.objects.filter(idempotency_key=idempotency_key).exists():
                return None
            raise
    repaid = min(points, max(-account.balance, 0))
    balance = account.balance + points
    lifetime = account.lifetime_earned + (points if kind == PointsEntry.Kind.EARN else 0)
    updated_at = timezone.now()
    ops = connection.ops
    with connection.cursor() as cursor:
        cursor.execute(
            _CREDIT_ONCE,
            {
                "account": account.pk,
                "kind": kind,
                "points": points,
                "key": idempotency_key,
                "order_id": order.order_id if order else None,
                "order_number": order.number if order else "",
                "reason": "",
                "actor": "",
                "details": json.dumps(details or {}),
                "now": ops.adapt_datetimefield_value(now),
                "remaining": points - repaid,
                "available_at": ops.adapt_datetimefield_value(available_at),
                "expires_at": ops.adapt_datetimefield_value(expires_at),
                "balance": balance,
                "lifetime": lifetime,
                "updated_at": ops.adapt_datetimefield_value(updated_at),
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    entry = PointsEntry(
        pk=row[0],
        account=account,
        kind=kind,
        points=points,
        written_off=0,
        idempotency_key=idempotency_key,
        order_id=order.order_id if order else None,
        order_number=order.number if order else "",
        details=details or {},
        created_at=now,
    )
    account.balance, account.lifetime_earned, account.updated_at = balance, lifetime, updated_at
    if kind == PointsEntry.Kind.EARN and announce:
        signals.send_after_commit(
            signals.points_earned,
            **_signal_args(account, entry),
            points=points,
            order_id=order.order_id if order else None,
        )
    return entry


def _plan(lots: Iterable[PointsLot], points: int) -> list[tuple[int, int]]:
    views = [LotView(lot.pk, lot.remaining, lot.available_at, lot.expires_at) for lot in lots]
    return allocate(views, points)


def _consume(plan: list[tuple[int, int]]) -> None:
    for lot_id, taken in plan:
        PointsLot.objects.filter(pk=lot_id).update(remaining=F("remaining") - taken)


def _restore_lot_invariant(account: LoyaltyAccount) -> None:
    """Make the open lots add up to the balance again (after merging a debt with credits)."""
    lots = list(PointsLot.objects.filter(account=account).open())
    excess = sum(lot.remaining for lot in lots) - max(account.balance, 0)
    if excess > 0:
        _consume(_plan(lots, excess))


def _signal_args(account: LoyaltyAccount, entry: PointsEntry) -> dict:
    return {
        "account_id": account.pk,
        "channel_slug": account.channel_slug,
        "customer_id": account.customer_id,
        "entry_id": entry.pk,
    }
