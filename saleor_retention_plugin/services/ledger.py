"""Write use-cases of the points ledger; each runs in one transaction.

Every function that changes points locks the account row first (``SELECT ... FOR
UPDATE``), so two spends against one account are serialised by PostgreSQL and the second
sees what the first left. Idempotency does not rely on the lock: each entry has a unique
``idempotency_key``, so a duplicate event or a retried task hits the constraint and changes
nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from .. import signals
from ..conf import LedgerSettings, OverdraftPolicy
from ..domain.customers import normalise_email
from ..domain.earning import order_earns_points, points_for_amount, points_to_take_back
from ..domain.lots import LotView, allocate, available_moment, expiry_moment
from ..models import LoyaltyAccount, PointsEntry, PointsLot

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from ..domain.orders import OrderSnapshot

logger = logging.getLogger(__name__)

MAX_ADJUSTMENT = 10_000_000
# Far above any real order, far below what overflows a bigint at the highest rate.
MAX_ORDER_AMOUNT = Decimal(10) ** 12


class LedgerError(Exception):
    """A request the ledger refuses; the message is safe to show to the user."""

    code = "invalid"


class InsufficientPoints(LedgerError):
    code = "insufficient_points"


class InvalidPoints(LedgerError):
    code = "invalid_points"


class AccountNotFound(LedgerError):
    code = "not_found"


@dataclass(frozen=True)
class OrderPointsOutcome:
    """What ``sync_order_points`` did, for logs, tests and the sandbox."""

    order_id: str
    account_id: int | None
    earned: int = 0
    taken_back: int = 0
    written_off: int = 0
    skipped_reason: str = ""


# --- accounts -----------------------------------------------------------------------------


def account_for(
    channel_slug: str, customer_id: int | None, email: str | None, *, merge_guests: bool = False
) -> LoyaltyAccount:
    """The live account of a customer (or of a guest email) in a channel, created if needed.

    With ``merge_guests`` (only for an email the customer proved is theirs: a confirmed
    Saleor account), the customer's account first absorbs the guest account of that
    email, so points earned before registering are never stranded. Without proof, an
    email typed into a checkout or an unconfirmed registration must not claim a
    stranger's guest points.
    """
    email = normalise_email(email)
    if customer_id is not None:
        account, _ = _get_or_create(
            LoyaltyAccount.objects.filter(channel_slug=channel_slug, customer_id=customer_id),
            channel_slug=channel_slug,
            customer_id=customer_id,
            email=email,
        )
        if email and merge_guests:
            _merge_guests_into(account, email)
        return account
    if email is None:
        raise LedgerError("A guest account needs an email address.")
    account, _ = _get_or_create(
        LoyaltyAccount.objects.in_channel(channel_slug).open_guests_with_email(email),
        channel_slug=channel_slug,
        customer_id=None,
        email=email,
    )
    return account


def _get_or_create(
    queryset: QuerySet[LoyaltyAccount], **values: Any
) -> tuple[LoyaltyAccount, bool]:
    account = queryset.first()
    if account is not None:
        return account, False
    try:
        with transaction.atomic():
            return LoyaltyAccount.objects.create(**values), True
    except IntegrityError:
        # Another worker created it between our read and our insert: use theirs.
        return queryset.get(), False


def merge_guest_accounts(customer_id: int, email: str | None) -> list[int]:
    """Fold every channel's guest account of ``email`` into the customer's; once each.

    Returns the ids of the guest accounts merged now (an already merged guest is not
    merged again, so a repeated event changes nothing).
    """
    email = normalise_email(email)
    if email is None:
        return []
    merged: list[int] = []
    with transaction.atomic():
        guest_channels = (
            LoyaltyAccount.objects.open_guests_with_email(email)
            .values_list("channel_slug", flat=True)
            .distinct()
        )
        for channel_slug in list(guest_channels):
            account = account_for(channel_slug, customer_id, None)
            merged.extend(_merge_guests_into(account, email))
    return merged


def _merge_guests_into(account: LoyaltyAccount, email: str) -> list[int]:
    guests = list(
        LoyaltyAccount.objects.in_channel(account.channel_slug)
        .open_guests_with_email(email)
        .exclude(pk=account.pk)
        .values_list("pk", flat=True)
    )
    if not guests:
        return []
    with transaction.atomic():
        # Lock in id order so two merges can never deadlock each other.
        locked = list(
            LoyaltyAccount.objects.select_for_update()
            .filter(pk__in=[account.pk, *guests])
            .order_by("pk")
        )
        target = next(row for row in locked if row.pk == account.pk)
        merged = []
        for guest in locked:
            if guest.pk == target.pk or guest.merged_into_id is not None:
                continue
            PointsEntry.objects.filter(account=guest).update(account=target)
            PointsLot.objects.filter(account=guest).update(account=target)
            target.balance += guest.balance
            target.lifetime_earned += guest.lifetime_earned
            guest.balance = 0
            guest.lifetime_earned = 0
            guest.merged_into = target
            guest.save(update_fields=["balance", "lifetime_earned", "merged_into", "updated_at"])
            merged.append(guest.pk)
        if target.email is None:
            target.email = email
        target.save(update_fields=["balance", "lifetime_earned", "email", "updated_at"])
        _restore_lot_invariant(target)
    logger.info("Merged guest accounts %s into loyalty account %s", merged, target.pk)
    return merged


def anonymise_customer(customer_id: int, email: str | None = None) -> int:
    """Forget who owned the customer's accounts; keep the points totals for analytics.

    Clears the customer id and email of the customer's accounts, of the guest accounts
    merged into them and of any guest account still open under the email. Returns how
    many accounts were anonymised; calling it again changes nothing.
    """
    emails = {normalise_email(email)} - {None}
    now = timezone.now()
    with transaction.atomic():
        owned = LoyaltyAccount.objects.select_for_update().filter(customer_id=customer_id)
        ids = list(owned.values_list("pk", flat=True))
        emails |= {address for address in owned.values_list("email", flat=True) if address}
        personal = (
            Q(pk__in=ids)
            | Q(merged_into_id__in=ids)
            | Q(customer_id__isnull=True, email__in=emails)
        )
        return LoyaltyAccount.objects.filter(personal).update(
            customer_id=None, email=None, anonymised_at=now, updated_at=now
        )


# --- orders -----------------------------------------------------------------------------


def sync_order_points(
    order: OrderSnapshot,
    settings: LedgerSettings,
    *,
    multiplier_for_account: Callable[[LoyaltyAccount], Decimal] | None = None,
    now: datetime | None = None,
) -> OrderPointsOutcome:
    """Bring the ledger in line with the order as it stands now.

    Whatever event arrived (created, paid, cancelled, refunded; in any order, any number of
    times), the effect is the same: the order earns once when it qualifies, and what should
    have been taken back by now (all on cancellation, a share on refunds) is taken back,
    minus what already was.
    """
    now = now or timezone.now()
    skipped = _why_order_is_skipped(order)
    if skipped:
        logger.info("Order %s earns no points: %s", order.order_id, skipped)
        return OrderPointsOutcome(order.order_id, None, skipped_reason=skipped)

    already = list(
        PointsEntry.objects.for_order(order.order_id).values(
            "kind", "points", "written_off", "account_id"
        )
    )
    earned_before = sum(row["points"] for row in already if row["kind"] == PointsEntry.Kind.EARN)
    if not earned_before and not order_earns_points(order, settings.credit_trigger):
        return OrderPointsOutcome(order.order_id, None, skipped_reason="not yet qualifying")

    if already:
        # The order's points stay on the account that earned them. A guest order keeps no
        # user in Saleor after the guest registers, and an anonymised customer has no id:
        # looking the account up again would open a fresh account and overdraw it.
        account_id = already[0]["account_id"]
    else:
        account_id = account_for(
            order.channel_slug, order.customer_id, order.email, merge_guests=order.email_verified
        ).pk
    earned_now = 0
    taken_now = written_off_now = 0
    with transaction.atomic():
        account = _lock_live(account_id)
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
            multiplier = multiplier_for_account(account) if multiplier_for_account else Decimal(1)
            points = points_for_amount(
                order.points_base_amount, settings.points_per_currency_unit, multiplier
            )
            if points > 0:
                # First seen already cancelled or refunded in full: the points are
                # credited and taken back at once, and nobody is told about either.
                announce = points_to_take_back(points, order) < points
                _credit(
                    account,
                    points,
                    announce=announce,
                    kind=PointsEntry.Kind.EARN,
                    idempotency_key=f"order:{order.order_id}:earn",
                    order=order,
                    available_at=available_moment(now, settings.pending_days),
                    expires_at=expiry_moment(now, settings.expiry_months, settings.timezone),
                    details={
                        "base_amount": str(order.points_base_amount),
                        "currency": order.currency,
                        "rate": str(settings.points_per_currency_unit),
                        "multiplier": str(multiplier),
                    },
                    now=now,
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
    )


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
    account.save(update_fields=["balance", "updated_at"])
    if announce:
        signals.send_after_commit(
            signals.points_reversed,
            **_signal_args(account, entry),
            points=debit,
            written_off=written_off,
            order_id=order.order_id,
        )
    return entry


# --- spending and adjusting ------------------------------------------------------------


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
        account = _lock(account_id)
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


# --- expiry -------------------------------------------------------------------------------


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
            expired_points += _expire_lot(lot_id, account_id, now)
        if len(due) < batch_size:
            return expired_points


def _expire_lot(lot_id: int, account_id: int, now: datetime) -> int:
    with transaction.atomic():
        account = _lock(account_id)
        lot = PointsLot.objects.get(pk=lot_id)
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
    signals.send_after_commit(signals.points_expired, **_signal_args(account, entry), points=points)
    return points


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpiringPoints:
    points: int
    expires_at: datetime


@dataclass(frozen=True)
class AccountSummary:
    account_id: int
    balance: int
    spendable: int
    pending: int
    lifetime_earned: int
    expiring_soon: tuple[ExpiringPoints, ...]


def summarise_account(
    account: LoyaltyAccount, *, now: datetime | None = None, expiring_within_days: int = 30
) -> AccountSummary:
    """Balance, spendable, pending and soon-expiring points: one query over open lots."""
    now = now or timezone.now()
    lots = list(
        PointsLot.objects.filter(account=account)
        .open()
        .values_list("remaining", "available_at", "expires_at")
    )
    live = [lot for lot in lots if lot[2] is None or lot[2] > now]
    pending = sum(remaining for remaining, available_at, _ in live if available_at > now)
    horizon = now + timedelta(days=expiring_within_days)
    expiring: dict[datetime, int] = {}
    for remaining, _, expires_at in live:
        if expires_at is not None and expires_at <= horizon:
            expiring[expires_at] = expiring.get(expires_at, 0) + remaining
    spendable = account.balance - pending - sum(r for r, _, e in lots if e is not None and e <= now)
    return AccountSummary(
        account_id=account.pk,
        balance=account.balance,
        spendable=spendable,
        pending=pending,
        lifetime_earned=account.lifetime_earned,
        expiring_soon=tuple(
            ExpiringPoints(points, moment) for moment, points in sorted(expiring.items())
        ),
    )


# --- internals ------------------------------------------------------------------------------


def _lock_live(account_id: int) -> LoyaltyAccount:
    """Lock the account, following merges: a merged guest's entries live on its target."""
    account = _lock(account_id)
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
