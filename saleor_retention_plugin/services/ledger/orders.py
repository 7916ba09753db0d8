"""Orders in the ledger: earn once when an order qualifies, take back its refunded share.

Called by the order intake (``services.order_intake``) with the order as it now stands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from ... import signals
from ...conf import LedgerSettings, OverdraftPolicy
from ...domain.customers import normalise_email
from ...domain.earning import order_earns_points, points_for_amount, points_to_take_back
from ...domain.lots import available_moment, expiry_moment
from ...models import LoyaltyAccount, PointsEntry, PointsLot
from .accounts import account_for
from .entries import (
    _append,
    _consume,
    _credit,
    _credit_once,
    _live,
    _lock_live,
    _plan,
    _signal_args,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from ...domain.orders import OrderSnapshot
    from ..order_opening import OrderOpening

logger = logging.getLogger(__name__)


# Far above any real order, far below what overflows a bigint at the highest rate.
MAX_ORDER_AMOUNT = Decimal(10) ** 12


@dataclass(frozen=True)
class OrderPointsOutcome:
    """What ``sync_order_points`` did, for logs, tests and the sandbox."""

    order_id: str
    account_id: int | None
    earned: int = 0
    taken_back: int = 0
    written_off: int = 0
    skipped_reason: str = ""
    # What the order is worth in points now: earned less everything taken back (written
    # off included). None when the order was skipped (then it counts for nothing).
    net_points: int | None = None
    # The order had earned before this call: an earlier intake already applied it.
    earned_before: bool = False
    # The account row as written, locked until the caller's transaction ends (the order
    # intake hands it to the tiers, which then need not read and lock it again).
    account: LoyaltyAccount | None = field(default=None, compare=False, repr=False)


def sync_order_points(
    order: OrderSnapshot,
    settings: LedgerSettings,
    *,
    multiplier_for_account: Callable[[LoyaltyAccount], Decimal] | None = None,
    now: datetime | None = None,
    open_order: Callable[[bool, str | None], OrderOpening] | None = None,
) -> OrderPointsOutcome:
    """Bring the ledger in line with the order as it stands now.

    Whatever event arrived (created, paid, cancelled, refunded; in any order, any number of
    times), the effect is the same: the order earns once when it qualifies, and what should
    have been taken back by now (all on cancellation, a share on refunds) is taken back,
    minus what already was.

    ``open_order(merge_guests, email)``: reads the order's entries and locks the account
    in one statement (``services.order_opening.open_order``, the order intake's); used
    for an order that earns now (the common event), inside the caller's transaction.
    """
    now = now or timezone.now()
    skipped = _why_order_is_skipped(order)
    if skipped:
        logger.info("Order %s earns no points: %s", order.order_id, skipped)
        return OrderPointsOutcome(order.order_id, None, skipped_reason=skipped)

    opening = (
        open_order(order.email_verified, normalise_email(order.email))
        if open_order is not None
        # Its lock must last until the caller's transaction ends.
        and transaction.get_connection().in_atomic_block
        and order_earns_points(order, settings.credit_trigger)
        else None
    )
    already = (
        opening.entries
        if opening is not None
        else list(
            PointsEntry.objects.for_order(order.order_id).values(
                "kind", "points", "written_off", "account_id"
            )
        )
    )
    earned_before = sum(row["points"] for row in already if row["kind"] == PointsEntry.Kind.EARN)
    if not earned_before and not order_earns_points(order, settings.credit_trigger):
        return OrderPointsOutcome(
            order.order_id, None, skipped_reason="not yet qualifying", net_points=0
        )

    multiplier = _MultiplierOnce(multiplier_for_account)
    earned_now = 0
    taken_now = written_off_now = 0
    # Inside the order intake's transaction no savepoint is needed: any error rolls the
    # whole intake back.
    with transaction.atomic(savepoint=False):
        if already:
            # The order's points stay on the account that earned them. A guest order keeps
            # no user in Saleor after the guest registers, and an anonymised customer has
            # no id: looking the account up again would open a fresh account and overdraw it.
            locked = opening.locked(already[0]["account_id"]) if opening else None
            account = _live(locked) if locked else _lock_live(already[0]["account_id"])
        else:
            # Found (or opened) with its row lock: one query instead of a read and a lock
            # (none at all when the opening statement locked it).
            account = account_for(
                order.channel_slug,
                order.customer_id,
                order.email,
                merge_guests=order.email_verified,
                lock=True,
                locked_rows=opening.accounts if opening is not None else None,
            )
            if account.merged_into_id is not None:
                account = _lock_live(account.merged_into_id)
            booked = _book_first_earning(order, account, settings, multiplier, now)
            if booked is not None:
                return booked
        # Re-read under the lock: a concurrent task for the same order may have run,
        # possibly on another account (a guest's, merged into a customer's meanwhile).
        already = list(
            PointsEntry.objects.for_order(order.order_id).values(
                "kind", "points", "written_off", "account_id"
            )
        )
        if already and already[0]["account_id"] != account.pk:
            account = _lock_live(already[0]["account_id"])
        earned = sum(row["points"] for row in already if row["kind"] == PointsEntry.Kind.EARN)
        announce = True
        if not earned and order_earns_points(order, settings.credit_trigger):
            points = points_for_amount(
                order.points_base_amount, settings.points_per_currency_unit, multiplier(account)
            )
            if points > 0:
                # First seen already cancelled or refunded in full: the points are
                # credited and taken back at once, and nobody is told about either.
                announce = points_to_take_back(points, order) < points
                _credit(
                    account,
                    points,
                    announce=announce,
                    **_earning(order, settings, multiplier(account), now),
                )
                earned = earned_now = points
        taken_before = sum(
            -row["points"] + row["written_off"]
            for row in already
            if row["kind"] == PointsEntry.Kind.REVERSE
        )
        to_take = points_to_take_back(earned, order) - taken_before
        if to_take > 0:
            entry = _take_back_for_order(
                account, order, to_take, taken_before + to_take, settings, now, announce=announce
            )
            taken_now, written_off_now = -entry.points, entry.written_off
    return OrderPointsOutcome(
        order.order_id,
        account.pk,
        earned=earned_now,
        taken_back=taken_now,
        written_off=written_off_now,
        net_points=max(earned - taken_before - taken_now - written_off_now, 0),
        earned_before=earned > earned_now,
        account=account,
    )


class _MultiplierOnce:
    """The account's earning multiplier, asked for at most once per account."""

    def __init__(self, source: Callable[[LoyaltyAccount], Decimal] | None) -> None:
        self.source = source
        self.known: dict[int, Decimal] = {}

    def __call__(self, account: LoyaltyAccount) -> Decimal:
        if self.source is None:
            return Decimal(1)
        if account.pk not in self.known:
            self.known[account.pk] = self.source(account)
        return self.known[account.pk]


def _book_first_earning(
    order: OrderSnapshot,
    account: LoyaltyAccount,
    settings: LedgerSettings,
    multiplier: _MultiplierOnce,
    now: datetime,
) -> OrderPointsOutcome | None:
    """Book the points of an order nobody had booked when it was read (before the lock).

    The common event: a paid order, nothing to take back. Its entries are not read
    again under the lock: the earning entry's unique idempotency key decides whether a
    concurrent task booked it meanwhile. None when the order needs the full path
    (something to take back, no points, or booked meanwhile): nothing was written.
    """
    if not order_earns_points(order, settings.credit_trigger):
        return None
    rate = multiplier(account)
    points = points_for_amount(order.points_base_amount, settings.points_per_currency_unit, rate)
    if points <= 0 or points_to_take_back(points, order) > 0:
        return None
    entry = _credit_once(account, points, **_earning(order, settings, rate, now))
    if entry is None:
        return None
    return OrderPointsOutcome(
        order.order_id, account.pk, earned=points, net_points=points, account=account
    )


def _earning(
    order: OrderSnapshot, settings: LedgerSettings, multiplier: Decimal, now: datetime
) -> dict[str, Any]:
    """What the order's earning entry and lot are written with, but the points."""
    return {
        "kind": PointsEntry.Kind.EARN,
        "idempotency_key": f"order:{order.order_id}:earn",
        "order": order,
        "available_at": available_moment(now, settings.pending_days),
        "expires_at": expiry_moment(now, settings.expiry_months, settings.timezone),
        "details": {
            "base_amount": str(order.points_base_amount),
            "currency": order.currency,
            "rate": str(settings.points_per_currency_unit),
            "multiplier": str(multiplier),
        },
        "now": now,
    }


def _why_order_is_skipped(order: OrderSnapshot) -> str:
    if order.currency != order.channel_currency:
        return (
            f"order currency {order.currency} is not the channel currency {order.channel_currency}"
        )
    if order.customer_id is None and normalise_email(order.email) is None:
        return "a guest order without an email address"
    if order.points_base_amount < 0 or order.total_amount < 0 or order.refunded_amount < 0:
        return "negative amounts"
    if max(order.points_base_amount, order.total_amount, order.refunded_amount) > MAX_ORDER_AMOUNT:
        return f"amounts above {MAX_ORDER_AMOUNT} (not a real order)"
    return ""


def _take_back_for_order(
    account: LoyaltyAccount,
    order: OrderSnapshot,
    points: int,
    cumulative_target: int,
    settings: LedgerSettings,
    now: datetime,
    *,
    announce: bool = True,
) -> PointsEntry:
    lots = PointsLot.objects.filter(account=account).open()
    # The order's own lot goes first (even while pending), then the soonest-expiring ones.
    own = [lot for lot in lots if lot.order_id == order.order_id]
    others = [lot for lot in lots if lot.order_id != order.order_id]
    plan = _plan(own, points)
    plan += _plan(others, points - sum(taken for _, taken in plan))
    covered = sum(taken for _, taken in plan)
    uncovered = points - covered
    if settings.overdraft_policy is OverdraftPolicy.ALLOW_NEGATIVE:
        debit, written_off = points, 0
    else:
        debit, written_off = covered, uncovered
    entry = _append(
        account,
        kind=PointsEntry.Kind.REVERSE,
        points=-debit,
        written_off=written_off,
        # Keyed by the cumulative amount taken back: a repeated refund event for the same
        # refunded total collides here instead of taking back twice.
        idempotency_key=f"order:{order.order_id}:reverse:{cumulative_target}",
        order=order,
        details={
            "cancelled": order.is_cancelled,
            "refunded_amount": str(order.refunded_amount),
            "total_amount": str(order.total_amount),
        },
        now=now,
    )
    _consume(plan)
    account.balance -= debit
    # Lifetime points count what orders earned net of what they took back (written-off
    # points included: the order gave them back even if the balance could not).
    account.lifetime_earned = max(account.lifetime_earned - debit - written_off, 0)
    account.save(update_fields=["balance", "lifetime_earned", "updated_at"])
    if announce:
        signals.send_after_commit(
            signals.points_reversed,
            **_signal_args(account, entry),
            points=debit,
            written_off=written_off,
            order_id=order.order_id,
        )
    return entry
