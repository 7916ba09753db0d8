"""Evaluating accounts against their channel's tiers: orders, daily re-evaluation, reading.

Tier rules live in ``domain.tiers``; this module feeds them from the database and writes
the outcome (``CustomerTier`` + a ``TierChange`` row) in one transaction per account,
under the account's row lock so a concurrent order and re-evaluation cannot interleave.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from ...domain import tiers as rules
from ...domain.earning import order_earns_points
from ...domain.orders import OrderSnapshot, OrderValue, order_value
from ...models import (
    BenefitKind,
    CustomerTier,
    LoyaltyAccount,
    MemberDay,
    MembershipTier,
    PointsEntry,
    QualifyingOrder,
    TierBenefit,
    TierChange,
)
from .catalogue import _rule, seed_default_tiers, tiers_of_channel
from .progress import (
    Activity,
    _activity,
    _record_change,
    _totals,
    insert_order_reading_activity,
)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from django.db.models import QuerySet

    from ...conf import ChannelSettings, MembershipSettings
    from ..ledger import OrderPointsOutcome

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NextTier:
    tier: MembershipTier
    current_value: Decimal  # points or money inside the next tier's window
    remaining: Decimal
    ratio: Decimal  # 0..1


@dataclass(frozen=True)
class MembershipSummary:
    """Everything a storefront shows about an account's membership (fixed query count).

    ``tier`` is the stored tier, or for an account never evaluated yet, the tier it
    qualifies for (``achieved_at`` is then None).
    """

    tier: MembershipTier | None
    benefits: tuple[TierBenefit, ...]
    achieved_at: datetime | None
    downgrade_due_at: datetime | None
    next_tier: NextTier | None


@dataclass
class ReevaluationReport:
    evaluated: int = 0
    upgraded: int = 0
    downgraded: int = 0
    grace_started: int = 0
    grace_cancelled: int = 0


def membership_of(account: LoyaltyAccount, *, now: datetime | None = None) -> MembershipSummary:
    """The account's tier, its active benefits and progress to the next tier.

    Four queries whatever the account's history: its tier row, the channel's tiers,
    their benefits, and one aggregate over its qualifying orders.
    """
    now = now or timezone.now()
    membership = CustomerTier.objects.filter(account=account).first()
    tiers = tiers_of_channel(account.channel_slug)
    if not tiers:
        return MembershipSummary(None, (), None, None, None)
    ladder = [_rule(t) for t in tiers]
    by_id = {t.pk: t for t in tiers}
    totals = _totals(account.pk, ladder, now)
    if membership is not None and membership.tier_id in by_id:
        tier: MembershipTier | None = by_id[membership.tier_id]
    else:
        qualified = rules.qualifying_tier(ladder, totals)
        tier = by_id[qualified.tier_id] if qualified else None
    current_rule = _rule(tier) if tier else None
    progress = rules.progress_to_next_tier(ladder, current_rule, totals)
    return MembershipSummary(
        tier=tier,
        benefits=tuple(b for b in tier.benefits.all() if b.is_active) if tier else (),
        achieved_at=membership.achieved_at if membership else None,
        downgrade_due_at=membership.downgrade_due_at if membership else None,
        next_tier=(
            NextTier(
                by_id[progress.tier.tier_id],
                progress.current_value,
                progress.remaining,
                progress.ratio,
            )
            if progress
            else None
        ),
    )


@dataclass(frozen=True)
class TierStanding:
    """An account's tier row and its channel's ladder, read once per order intake.

    The ledger asks for the multiplier of the account's tier, and the tier evaluation
    that follows in the same transaction (under the same account lock) decides on the
    same rows instead of reading them again.
    """

    account_id: int
    tiers: list[MembershipTier]  # the channel's ladder by rank, each with ``multiplier``
    membership: CustomerTier | None
    # The channel's member-day multiplier at the moment asked for (1 outside a window).
    member_day_multiplier: Decimal = Decimal(1)

    @property
    def multiplier(self) -> Decimal:
        """The earning multiplier of the account's tier (1 without a tier)."""
        if self.membership is None:
            return Decimal(1)
        for tier in self.tiers:
            if tier.pk == self.membership.tier_id:
                value = getattr(tier, "multiplier", None)
                return rules.points_multiplier([(BenefitKind.POINTS_MULTIPLIER, value)])
        return Decimal(1)


def tier_standing(
    account: LoyaltyAccount,
    *,
    member_day_at: datetime | None = None,
    known_ladder: tuple[list[MembershipTier], Decimal] | None = None,
) -> TierStanding:
    """The account's ``TierStanding``: two queries (the ladder with each tier's largest
    active multiplier, and the account's tier row unless the account was read with it:
    ``select_related("membership")``). Read it under the account's lock.

    ``member_day_at``: also read the channel's member-day multiplier at that moment, in
    the ladder's query (a third query only when the channel has no tiers).

    ``known_ladder``: the account's channel's tiers (each with ``multiplier``) and member-day
    multiplier, already read in this transaction (``services.order_opening``): not read
    again."""
    if known_ladder is not None:
        tiers, member_day = known_ladder
        return TierStanding(account.pk, tiers, _membership_of(account), member_day)
    largest_multiplier = (
        TierBenefit.objects.filter(
            tier=OuterRef("pk"),
            kind=BenefitKind.POINTS_MULTIPLIER,
            is_active=True,
            value__isnull=False,
        )
        .order_by("-value")
        .values("value")[:1]
    )
    ladder = MembershipTier.objects.in_channel(account.channel_slug).annotate(
        multiplier=Subquery(largest_multiplier)
    )
    if member_day_at is not None:
        ladder = ladder.annotate(
            member_day=Subquery(
                _member_day_window(account.channel_slug, member_day_at).values("multiplier")[:1]
            )
        )
    tiers = list(ladder)
    member_day = Decimal(1)
    if member_day_at is not None:
        if tiers:
            value = getattr(tiers[0], "member_day", None)
        else:
            value = (
                _member_day_window(account.channel_slug, member_day_at)
                .values_list("multiplier", flat=True)
                .first()
            )
        member_day = Decimal(value) if value is not None else Decimal(1)
    return TierStanding(account.pk, tiers, _membership_of(account), member_day)


def _membership_of(account: LoyaltyAccount) -> CustomerTier | None:
    if LoyaltyAccount.membership.is_cached(account):  # read with the account's lock
        return getattr(account, "membership", None)
    return CustomerTier.objects.filter(account_id=account.pk).first()


def _member_day_window(channel_slug: str, moment: datetime) -> QuerySet[MemberDay]:
    # Windows of a channel never overlap (services.member_days refuses it): at most one.
    return MemberDay.objects.filter(
        channel_slug=channel_slug, starts_at__lte=moment, ends_at__gt=moment
    ).order_by()


def points_multiplier_for_account(account: LoyaltyAccount) -> Decimal:
    """The earning multiplier of the account's current tier (1 without a tier).

    Passed to ``ledger.sync_order_points(multiplier_for_account=...)``: one query."""
    values = TierBenefit.objects.filter(
        tier__members__account_id=account.pk,
        kind=BenefitKind.POINTS_MULTIPLIER,
        is_active=True,
    ).values_list("kind", "value")
    return rules.points_multiplier(list(values))


def apply_order_to_tiers(
    order: OrderSnapshot,
    settings: ChannelSettings,
    *,
    value: OrderValue | None = None,
    points: OrderPointsOutcome | None = None,
    now: datetime | None = None,
    locked_account: LoyaltyAccount | None = None,
    standing: TierStanding | None = None,
) -> TierChange | None:
    """Record what the order counts towards tiers and upgrade the account if it now
    qualifies for a better tier. Never downgrades. Idempotent per order.

    ``locked_account``: the account row the caller already locked in the current
    transaction (the order intake passes the ledger's); when it holds the order, the
    evaluation uses it instead of reading and locking it again; ``standing`` likewise
    (``tier_standing`` read under that lock) saves reading the ladder and tier row again.

    The order counts its net points (what it earned less what it took back, from the
    ledger) and its net goods (``order_value``: the same refund rule as the ledger). Call
    it after ``ledger.sync_order_points`` for the same snapshot; pass its outcome as
    ``points`` to save re-reading the order's entries.

    The recorded figures only move the way an order's life goes: once the order counted,
    a snapshot from earlier in its life (not yet paid, a replay of the paid event after
    the cancellation) lowers nothing back up; refunds and cancellation only lower it.
    """
    now = now or timezone.now()
    if order.currency != order.channel_currency:
        return None
    value = value or order_value(order)
    if points is not None and points.net_points is not None:
        net_points, earning_account = points.net_points, points.account_id
    else:
        net_points, earning_account = _order_points(order.order_id)
    qualifies = order_earns_points(order, settings.ledger.credit_trigger)
    holder: int | None = None
    activity: Activity | None = None
    if points is not None and points.earned and not points.earned_before and qualifies:
        # The order's first booking (the ledger earned on it just now): its record almost
        # never exists yet, so it is inserted at once, and read only if one did exist.
        # Under the ledger's lock of the holder, with the ladder read there, the insert
        # also reads the totals the evaluation decides on (one statement).
        locked = (
            locked_account is not None
            and locked_account.pk == points.account_id
            and locked_account.merged_into_id is None
            and standing is not None
            and standing.account_id == points.account_id
        )
        ladder = [_rule(t) for t in standing.tiers] if locked and standing else None
        holder, activity = _insert_first_record(
            order, points.account_id, net_points, value, now, ladder
        )
    if holder is None:
        holder = _record_order(order, value, net_points, earning_account, qualifies)
        if holder is None:
            return None
    _, change = _evaluate(
        holder,
        settings.membership,
        TierChange.Reason.QUALIFYING_ORDER,
        False,
        now,
        {"order_id": order.order_id, "order_number": order.number},
        locked_account=(
            locked_account if locked_account is not None and locked_account.pk == holder else None
        ),
        standing=standing if standing is not None and standing.account_id == holder else None,
        activity=activity,
    )
    return change


def _record_order(
    order: OrderSnapshot,
    value: OrderValue,
    net_points: int,
    earning_account: int | None,
    qualifies: bool,
) -> int | None:
    """Write what the order counts now; the id of the account holding it, or None when
    nothing changed (or nobody can hold it)."""
    from ..ledger import LedgerError, account_for

    record = QualifyingOrder.objects.filter(order_id=order.order_id).first()
    if record is None:
        if not qualifies and net_points == 0:
            return None  # not (yet) a qualifying order, and never was: nothing to record
        amount = value.net_goods_amount if qualifies else Decimal(0)
    elif order.is_cancelled:
        amount = Decimal(0)
    elif qualifies:
        amount = min(record.amount_spent, value.net_goods_amount)
    else:
        amount = record.amount_spent  # an earlier moment of the order: nothing to undo
    # The order belongs to whichever account holds its points now: the ledger moves them
    # when a guest's account is merged into a registered customer's.
    holder = earning_account or (record.account_id if record else None)
    if holder is None:
        try:
            holder = account_for(order.channel_slug, order.customer_id, order.email).pk
        except LedgerError:
            return None  # a guest order without an email: nobody to hold a tier
    if record is None:
        QualifyingOrder.objects.create(
            order_id=order.order_id,
            account_id=holder,
            points_earned=net_points,
            amount_spent=amount,
            currency=order.currency,
            placed_at=order.created_at,
        )
    elif (record.account_id, record.points_earned, record.amount_spent) != (
        holder,
        net_points,
        amount,
    ):
        record.account_id, record.points_earned, record.amount_spent = holder, net_points, amount
        record.save(update_fields=["account", "points_earned", "amount_spent", "updated_at"])
    else:
        return None  # nothing the order counts changed: the tier cannot have changed
    return holder


def _insert_first_record(
    order: OrderSnapshot,
    account_id: int | None,
    net_points: int,
    value: OrderValue,
    now: datetime,
    ladder: list[rules.TierRule] | None = None,
) -> tuple[int | None, Activity | None]:
    """Insert the order's record unless one exists (one statement); the holder's id when
    it was inserted, None when a record already existed (or nobody holds the order).

    With a ``ladder`` on PostgreSQL the same statement also reads the holder's
    ``_activity`` for that ladder at ``now`` (returned second; None otherwise): call it
    so only under the holder's lock, with the ladder the evaluation decides on."""
    if account_id is None:
        return None, None
    record = QualifyingOrder(
        account_id=account_id,
        order_id=order.order_id,
        points_earned=net_points,
        # As the column stores it (two places): the same figure the totals then add.
        amount_spent=value.net_goods_amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
        currency=order.currency,
        placed_at=order.created_at,
    )
    ops = connection.ops
    insert: tuple[str, list[Any]] = (
        f"""INSERT INTO {QualifyingOrder._meta.db_table} (account_id, order_id, points_earned,
               amount_spent, currency, placed_at, updated_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (order_id) DO NOTHING RETURNING id""",
        [
            account_id,
            record.order_id,
            record.points_earned,
            ops.adapt_decimalfield_value(record.amount_spent, 14, 2),
            record.currency,
            ops.adapt_datetimefield_value(record.placed_at),
            ops.adapt_datetimefield_value(now),
        ],
    )
    if ladder and connection.vendor == "postgresql":
        activity = insert_order_reading_activity(insert, record, ladder, now)
        return (account_id, activity) if activity is not None else (None, None)
    with connection.cursor() as cursor:
        cursor.execute(*insert)
        inserted = cursor.fetchone()
    return (account_id if inserted else None), None


def _order_points(order_id: str) -> tuple[int, int | None]:
    """The order's points net of everything taken back, and the account holding them."""
    rows = list(
        PointsEntry.objects.for_order(order_id)
        .filter(kind__in=[PointsEntry.Kind.EARN, PointsEntry.Kind.REVERSE])
        .values_list("kind", "points", "written_off", "account_id")
    )
    net = sum(points - written_off for _, points, written_off, _ in rows)
    holder = next((acc for kind, _, _, acc in rows if kind == PointsEntry.Kind.EARN), None)
    return max(net, 0), holder


def evaluate_account(
    account_id: int,
    *,
    settings: MembershipSettings,
    reason: str = TierChange.Reason.REEVALUATION,
    allow_downgrade: bool = True,
    now: datetime | None = None,
    details: Mapping[str, Any] | None = None,
) -> TierChange | None:
    """Apply the tier rules to one account; returns the change made, if any."""
    _, change = _evaluate(
        account_id, settings, reason, allow_downgrade, now or timezone.now(), details
    )
    return change


def _evaluate(
    account_id: int,
    settings: MembershipSettings,
    reason: str,
    allow_downgrade: bool,
    now: datetime,
    details: Mapping[str, Any] | None,
    channel_tiers: list[MembershipTier] | None = None,
    locked_account: LoyaltyAccount | None = None,
    standing: TierStanding | None = None,
    activity: Activity | None = None,
) -> tuple[rules.Move, TierChange | None]:
    with transaction.atomic(savepoint=False):
        # Lock first and read what the lock protects: a guest merged into another account
        # has no tier of its own (its orders count for the account it joined).
        account = (
            locked_account
            or LoyaltyAccount.objects.select_for_update().filter(pk=account_id).first()
        )
        if account is None or account.merged_into_id is not None:
            return rules.Move.STAY, None
        # The ranks and thresholds only: the benefits are not needed to decide.
        tiers = (
            channel_tiers
            or (standing.tiers if standing is not None else None)
            or list(MembershipTier.objects.in_channel(account.channel_slug))
            or seed_default_tiers(account.channel_slug, settings)
        )
        ladder = [_rule(t) for t in tiers]
        by_id = {t.pk: t for t in tiers}
        membership = (
            standing.membership
            if standing is not None
            else CustomerTier.objects.filter(account_id=account_id).first()
        )
        current = by_id.get(membership.tier_id) if membership else None
        stored = _decided(membership) if membership else None
        # ``activity``: read for this ladder under this lock by the caller (an order's
        # first booking reads it with the insert of its qualifying order).
        totals, earliest_counted = activity or _activity(account_id, ladder, now)
        qualified = rules.qualifying_tier(ladder, totals)
        decision = rules.decide(
            current=_rule(current) if current else None,
            qualified=qualified,
            downgrade_due_at=membership.downgrade_due_at if membership else None,
            now=now,
            grace_days=settings.tier_downgrade_grace_days,
            allow_downgrade=allow_downgrade,
        )
        new_tier = by_id[decision.tier.tier_id] if decision.tier else None
        value = rules.progress_for(decision.tier, totals) if decision.tier else None
        change = None
        if decision.move in (rules.Move.UPGRADE, rules.Move.DOWNGRADE) and new_tier is not None:
            why = TierChange.Reason.JOINED if current is None else reason
            change = _record_change(
                account_id, current, new_tier, why, value, now, details, account=account
            )
            if membership is None:
                membership = CustomerTier(
                    account_id=account_id, channel_slug=account.channel_slug, tier=new_tier
                )
            membership.tier = new_tier
            membership.achieved_at = now
            membership.downgrade_due_at = None
        elif membership is not None:
            membership.downgrade_due_at = decision.downgrade_due_at
        if membership is not None:
            membership.last_evaluated_at = now
            below = decision.tier is not None and (
                qualified is None or qualified.rank < decision.tier.rank
            )
            # Qualifying for less than the tier kept (an order never downgrades; a
            # refund or cancellation may lower what counts): the daily run decides now.
            membership.next_reevaluation_at = (
                now
                if below and membership.downgrade_due_at is None
                else rules.next_reevaluation(earliest_counted, membership.downgrade_due_at)
            )
            # An order that changes nothing the row decides on does not rewrite it (only
            # ``last_evaluated_at`` would move): one statement less on most orders.
            if reason != TierChange.Reason.QUALIFYING_ORDER or _decided(membership) != stored:
                membership.save()
    if change is not None:
        logger.info(
            "Loyalty account %s: tier %s -> %s (%s)",
            account_id,
            change.from_code or "-",
            change.to_code,
            change.reason,
        )
    return decision.move, change


def _decided(membership: CustomerTier) -> tuple[object, ...]:
    return (
        membership.pk,
        membership.tier_id,
        membership.achieved_at,
        membership.downgrade_due_at,
        membership.next_reevaluation_at,
    )


def reevaluate_channel(
    channel_slug: str,
    *,
    settings: MembershipSettings,
    reason: str = TierChange.Reason.REEVALUATION,
    now: datetime | None = None,
    batch_size: int = 500,
) -> ReevaluationReport:
    """Evaluate the channel's live accounts (not merged, not anonymised), in batches, one
    transaction each.

    The daily run (``reason="reevaluation"``) visits only the accounts time can change:
    those whose ``next_reevaluation_at`` has come (a counted order left its window, a
    grace period ended), found by an index, so its cost follows the accounts that
    changed, not the size of the shop. Orders evaluate their account at once. Any other
    reason (thresholds changed) visits every live account.
    """
    now = now or timezone.now()
    report = ReevaluationReport()
    # Read once for the whole run: a threshold edit meanwhile triggers its own run.
    ladder = tiers_of_channel(channel_slug)
    if not ladder:
        return report
    accounts = LoyaltyAccount.objects.in_channel(channel_slug).live()
    if reason == TierChange.Reason.REEVALUATION:
        due = CustomerTier.objects.in_channel(channel_slug).reevaluation_due(now)
        # Plus accounts never graded (opened by an adjustment or a birthday, not an
        # order): they join the entry tier here. An anti-join on the tier row's unique
        # account index, so it stays cheap as the shop grows.
        never_graded = ~Exists(CustomerTier.objects.filter(account_id=OuterRef("pk")))
        accounts = accounts.filter(Q(pk__in=due.values("account_id")) | never_graded)
    last_id = 0
    while True:
        ids = list(
            accounts.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return report
        for account_id in ids:
            move, _ = _evaluate(account_id, settings, reason, True, now, None, ladder)
            report.evaluated += 1
            if move is rules.Move.UPGRADE:
                report.upgraded += 1
            elif move is rules.Move.DOWNGRADE:
                report.downgraded += 1
            elif move is rules.Move.START_GRACE:
                report.grace_started += 1
            elif move is rules.Move.CANCEL_GRACE:
                report.grace_cancelled += 1
        last_id = ids[-1]


def channels_with_tiers() -> list[str]:
    return list(MembershipTier.objects.order_by().values_list("channel_slug", flat=True).distinct())


def tier_history(account: LoyaltyAccount) -> QuerySet[TierChange]:
    """The account's tier changes, newest first."""
    return TierChange.objects.filter(account=account).order_by("-changed_at", "-id")
