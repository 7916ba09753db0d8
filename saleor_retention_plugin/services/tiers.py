"""Write use-cases of membership tiers: seeding, CRUD, evaluating accounts, birthdays.

Tier rules live in ``domain.tiers``; this module feeds them from the database and writes
the outcome (``CustomerTier`` + a ``TierChange`` row) in one transaction per account,
under the account's row lock so a concurrent order and re-evaluation cannot interleave.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .. import signals
from ..conf import ChannelSettings, MembershipSettings
from ..domain import tiers as rules
from ..domain.earning import order_earns_points
from ..models import (
    BenefitKind,
    CustomerProfile,
    CustomerTier,
    LoyaltyAccount,
    MembershipTier,
    PointsEntry,
    QualifyingOrder,
    ThresholdKind,
    TierBenefit,
    TierChange,
)
from .errors import FieldError, InvalidInput, NotFound, RetentionError
from .inputs import clean_texts, is_whole_number, parse_amount

if TYPE_CHECKING:
    from ..domain.orders import OrderSnapshot

logger = logging.getLogger(__name__)

MAX_THRESHOLD = Decimal("999999999999")
MAX_TIERS_PER_CHANNEL = 20
MAX_NAME_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 2000
BIRTHDAY_CHANGE_INTERVAL = timedelta(days=365)
TIER_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class TierNotFound(NotFound):
    pass


class BenefitNotFound(NotFound):
    pass


class BirthdayLocked(RetentionError):
    code = "birthday_locked"


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


# --- tiers and benefits (staff) -----------------------------------------------------------


def seed_default_tiers(
    channel_slug: str, settings: MembershipSettings | None = None
) -> list[MembershipTier]:
    """Create Member / Silver / Gold (普通会员 / 白银会员 / 黄金会员) with their benefits
    for a channel that has no tiers yet; returns the channel's tiers. Idempotent."""
    settings = settings or MembershipSettings()
    existing = tiers_of_channel(channel_slug)
    if existing:
        return existing
    amount_based = settings.tier_basis.value == ThresholdKind.AMOUNT_SPENT
    try:
        with transaction.atomic():
            for default in rules.DEFAULT_TIERS:
                tier = MembershipTier.objects.create(
                    channel_slug=channel_slug,
                    rank=default.rank,
                    code=default.code,
                    name=dict(default.name),
                    description=dict(default.description),
                    threshold_kind=settings.tier_basis.value,
                    threshold_value=(
                        default.amount_threshold
                        if amount_based
                        else Decimal(default.points_threshold)
                    ),
                    window_months=settings.tier_window_months,
                )
                for position, (kind, value, title) in enumerate(default.benefits):
                    TierBenefit.objects.create(
                        tier=tier, kind=kind, value=value, title=dict(title), position=position
                    )
    except IntegrityError:
        pass  # seeded concurrently by another worker: theirs stands
    return tiers_of_channel(channel_slug)


def tiers_of_channel(channel_slug: str) -> list[MembershipTier]:
    """The channel's tiers by rank, benefits prefetched (``tier.benefits.all()``): 2 queries."""
    return list(MembershipTier.objects.in_channel(channel_slug).prefetch_related("benefits"))


def create_tier(
    channel_slug: str,
    *,
    code: str,
    rank: int,
    name: Mapping[str, str] | str,
    threshold_value: Decimal | int | str,
    threshold_kind: str | None = None,
    window_months: int | None = None,
    description: Mapping[str, str] | None = None,
    settings: MembershipSettings | None = None,
) -> MembershipTier:
    """Add a tier; kind and window default to the channel settings. Raises ``InvalidInput``
    (fields: code, rank, name, threshold_value, threshold_kind, window_months) and
    re-evaluates the channel's accounts after commit."""
    settings = settings or MembershipSettings()
    if MembershipTier.objects.filter(channel_slug=channel_slug).count() >= MAX_TIERS_PER_CHANNEL:
        raise InvalidInput({"rank": f"A channel can have at most {MAX_TIERS_PER_CHANNEL} tiers."})
    tier = MembershipTier(channel_slug=channel_slug)
    values = {
        "code": code,
        "rank": rank,
        "name": name,
        "description": description or {},
        "threshold_kind": threshold_kind or settings.tier_basis.value,
        "threshold_value": threshold_value,
        "window_months": settings.tier_window_months if window_months is None else window_months,
    }
    return _save_tier(tier, values, creating=True)


def update_tier(tier_id: int, **changes: Any) -> MembershipTier:
    """Change any of code, rank, name, description, threshold_kind, threshold_value,
    window_months. A threshold change re-evaluates every account of the channel after
    commit (upgrades at once, downgrades through the grace period); the programme stays on."""
    unknown = set(changes) - _TIER_FIELDS
    if unknown:
        raise InvalidInput(dict.fromkeys(sorted(unknown), "This field cannot be changed."))
    tier = _get_tier(tier_id)
    return _save_tier(tier, changes, creating=False)


_TIER_FIELDS = {
    "code",
    "rank",
    "name",
    "description",
    "threshold_kind",
    "threshold_value",
    "window_months",
}
_THRESHOLD_FIELDS = ("threshold_kind", "threshold_value", "window_months", "rank")


def _save_tier(
    tier: MembershipTier, values: Mapping[str, Any], *, creating: bool
) -> MembershipTier:
    cleaned, errors = _clean_tier_values(values)
    if errors:
        raise InvalidInput(errors)
    before = {field: getattr(tier, field) for field in _THRESHOLD_FIELDS}
    for field, value in cleaned.items():
        setattr(tier, field, value)
    with transaction.atomic():
        # Lock the channel's ladder so two staff edits are checked against each other.
        siblings = list(
            MembershipTier.objects.select_for_update()
            .filter(channel_slug=tier.channel_slug)
            .exclude(pk=tier.pk)
        )
        if any(t.rank == tier.rank for t in siblings):
            raise InvalidInput(
                {"rank": f"Another tier of this channel already has rank {tier.rank}."}
            )
        if any(t.code == tier.code for t in siblings):
            raise InvalidInput(
                {"code": f"Another tier of this channel is already called {tier.code!r}."}
            )
        ladder_errors = rules.validate_thresholds([_rule(t) for t in [*siblings, tier]])
        if ladder_errors:
            own = ladder_errors.get(tier.pk or -1) or next(iter(ladder_errors.values()))
            raise InvalidInput({"threshold_value": own})
        tier.save()
    changed = creating or any(getattr(tier, f) != before[f] for f in _THRESHOLD_FIELDS)
    if changed:
        _reevaluate_after_commit(tier.channel_slug)
    return tier


def _clean_tier_values(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if "code" in values:
        code = str(values["code"] or "").strip().lower()
        if not TIER_CODE.match(code):
            errors["code"] = "Use 1-64 lower-case letters, digits, - or _, e.g. gold."
        cleaned["code"] = code
    if "rank" in values:
        rank = values["rank"]
        if not is_whole_number(rank) or not (0 <= rank <= 1000):
            errors["rank"] = "Enter a whole number from 0 (entry tier) to 1000."
        cleaned["rank"] = rank
    if "name" in values:
        try:
            cleaned["name"] = clean_texts(values["name"], required=True, max_length=MAX_NAME_LENGTH)
        except ValueError as error:
            errors["name"] = str(error)
    if "description" in values:
        try:
            cleaned["description"] = clean_texts(
                values["description"], required=False, max_length=MAX_DESCRIPTION_LENGTH
            )
        except ValueError as error:
            errors["description"] = str(error)
    if "threshold_kind" in values:
        kind = values["threshold_kind"]
        kind = getattr(kind, "value", kind)
        if kind not in ThresholdKind.values:
            errors["threshold_kind"] = "Choose points_earned or amount_spent."
        cleaned["threshold_kind"] = kind
    if "threshold_value" in values:
        try:
            value = parse_amount(values["threshold_value"], maximum=MAX_THRESHOLD)
        except ValueError as error:
            errors["threshold_value"] = str(error)
        else:
            cleaned["threshold_value"] = value
    if "window_months" in values:
        months = values["window_months"]
        if not is_whole_number(months) or not (0 <= months <= 120):
            errors["window_months"] = "Enter 0 (lifetime) or a number of months up to 120."
        cleaned["window_months"] = months
    return cleaned, errors


def delete_tier(tier_id: int) -> None:
    """Remove a tier; its members move to the best remaining tier they qualify for
    (history reason ``tier_deleted``). Refused (``InvalidInput``) for the last tier, or
    when the remaining tiers would leave customers without a tier."""
    tier = _get_tier(tier_id)
    now = timezone.now()
    with transaction.atomic():
        remaining = list(
            MembershipTier.objects.select_for_update()
            .filter(channel_slug=tier.channel_slug)
            .exclude(pk=tier.pk)
        )
        if not remaining:
            raise InvalidInput({"id": "A channel keeps at least one tier."})
        errors = rules.validate_thresholds([_rule(t) for t in remaining])
        if errors:
            raise InvalidInput(
                {
                    "id": "Removing this tier would leave customers without a tier: "
                    + next(iter(errors.values()))
                }
            )
        remaining_rules = [_rule(t) for t in remaining]
        by_id = {t.pk: t for t in remaining}
        for membership in CustomerTier.objects.select_for_update().filter(tier=tier):
            totals = _totals(membership.account_id, remaining_rules, now)
            target = rules.qualifying_tier(remaining_rules, totals) or remaining_rules[0]
            new_tier = by_id[target.tier_id]
            _record_change(
                membership.account_id, tier, new_tier, TierChange.Reason.TIER_DELETED, None, now
            )
            membership.tier = new_tier
            membership.achieved_at = now
            membership.downgrade_due_at = None
            membership.save(update_fields=["tier", "achieved_at", "downgrade_due_at"])
        tier.delete()


def create_benefit(
    tier_id: int,
    *,
    kind: str,
    value: Decimal | int | str | None = None,
    config: Mapping[str, Any] | None = None,
    title: Mapping[str, str] | None = None,
    description: Mapping[str, str] | None = None,
    position: int = 0,
    is_active: bool = True,
) -> TierBenefit:
    """Attach a benefit; ``value`` is validated per kind (percent 0-100, multiplier 1-100,
    birthday gift points, early-access hours, ...). Raises ``InvalidInput``."""
    benefit = TierBenefit(tier=_get_tier(tier_id))
    return _save_benefit(
        benefit,
        {
            "kind": kind,
            "value": value,
            "config": config or {},
            "title": title or {},
            "description": description or {},
            "position": position,
            "is_active": is_active,
        },
    )


def update_benefit(benefit_id: int, **changes: Any) -> TierBenefit:
    unknown = set(changes) - {
        "kind",
        "value",
        "config",
        "title",
        "description",
        "position",
        "is_active",
    }
    if unknown:
        raise InvalidInput(dict.fromkeys(sorted(unknown), "This field cannot be changed."))
    benefit = TierBenefit.objects.select_related("tier").filter(pk=benefit_id).first()
    if benefit is None:
        raise BenefitNotFound("No such benefit.", field="id")
    return _save_benefit(benefit, changes)


def _save_benefit(benefit: TierBenefit, values: Mapping[str, Any]) -> TierBenefit:
    errors: dict[str, str] = {}
    merged = {
        "kind": getattr(
            values.get("kind", benefit.kind), "value", values.get("kind", benefit.kind)
        ),
        "value": values.get("value", benefit.value),
        "config": values.get("config", benefit.config),
        "title": values.get("title", benefit.title),
        "description": values.get("description", benefit.description),
        "position": values.get("position", benefit.position),
        "is_active": values.get("is_active", benefit.is_active),
    }
    value = merged["value"]
    if value is not None:
        try:
            value = parse_amount(value, maximum=MAX_THRESHOLD)
        except ValueError as error:
            errors["value"] = str(error)
            value = None
    config = merged["config"]
    if not isinstance(config, Mapping):
        errors["config"] = "Config must be an object."
        config = {}
    for field in ("title", "description"):
        try:
            merged[field] = clean_texts(
                merged[field],
                required=False,
                max_length=MAX_NAME_LENGTH if field == "title" else MAX_DESCRIPTION_LENGTH,
            )
        except ValueError as error:
            errors[field] = str(error)
            merged[field] = {}
    if not is_whole_number(merged["position"]) or not (0 <= merged["position"] <= 1000):
        errors["position"] = "Enter a whole number from 0 to 1000."
    if not isinstance(merged["is_active"], bool):
        errors["is_active"] = "Enter true or false."
    if "value" not in errors:
        for field, message in rules.benefit_errors(
            merged["kind"], value, config, merged["title"]
        ).items():
            errors.setdefault(field, message)
    if errors:
        raise InvalidInput(errors)
    benefit.kind = merged["kind"]
    benefit.value = value
    benefit.config = dict(config)
    benefit.title = merged["title"]
    benefit.description = merged["description"]
    benefit.position = merged["position"]
    benefit.is_active = merged["is_active"]
    benefit.save()
    return benefit


def delete_benefit(benefit_id: int) -> None:
    deleted, _ = TierBenefit.objects.filter(pk=benefit_id).delete()
    if not deleted:
        raise BenefitNotFound("No such benefit.", field="id")


# --- accounts -----------------------------------------------------------------------------


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
    order: OrderSnapshot, settings: ChannelSettings, *, now: datetime | None = None
) -> TierChange | None:
    """Record what the order counts towards tiers (net of refunds) and upgrade the account
    if it now qualifies for a better tier. Never downgrades. Idempotent per order.

    Call it after ``ledger.sync_order_points`` for the same snapshot, so the points the
    order earned (net of what was taken back) are known.
    """
    from .ledger import LedgerError, account_for

    now = now or timezone.now()
    if order.currency != order.channel_currency:
        return None
    entries = PointsEntry.objects.for_order(order.order_id).filter(
        kind__in=[PointsEntry.Kind.EARN, PointsEntry.Kind.REVERSE]
    )
    net_points = max(entries.total_points(), 0)
    qualifies = order_earns_points(order, settings.ledger.credit_trigger)
    amount = _net_amount(order) if qualifies else Decimal(0)
    record = QualifyingOrder.objects.filter(order_id=order.order_id).first()
    if not qualifies and net_points == 0 and record is None:
        return None  # not (yet) a qualifying order, and never was: nothing to record
    # The order belongs to whichever account holds its points now: the ledger moves them
    # when a guest's account is merged into a registered customer's.
    holder = entries.filter(kind=PointsEntry.Kind.EARN).values_list("account_id", flat=True).first()
    if holder is None:
        try:
            holder = account_for(order.channel_slug, order.customer_id, order.email).pk
        except LedgerError:
            return None  # a guest order without an email: nobody to hold a tier
    QualifyingOrder.objects.update_or_create(
        order_id=order.order_id,
        defaults={
            "account_id": holder,
            "points_earned": net_points,
            "amount_spent": amount,
            "currency": order.currency,
            "placed_at": order.created_at,
        },
    )
    return evaluate_account(
        holder,
        settings=settings.membership,
        reason=TierChange.Reason.QUALIFYING_ORDER,
        allow_downgrade=False,
        now=now,
        details={"order_id": order.order_id, "order_number": order.number},
    )


def _net_amount(order: OrderSnapshot) -> Decimal:
    if order.is_cancelled or order.points_base_amount <= 0:
        return Decimal(0)
    if order.refunded_amount <= 0 or order.total_amount <= 0:
        return order.points_base_amount
    kept = max(order.total_amount - order.refunded_amount, Decimal(0)) / order.total_amount
    return (order.points_base_amount * kept).quantize(Decimal("0.01"))


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
) -> tuple[rules.Move, TierChange | None]:
    account = LoyaltyAccount.objects.filter(pk=account_id).first()
    if account is None or account.merged_into_id is not None:
        return rules.Move.STAY, None
    tiers = (
        channel_tiers
        or tiers_of_channel(account.channel_slug)
        or seed_default_tiers(account.channel_slug, settings)
    )
    ladder = [_rule(t) for t in tiers]
    by_id = {t.pk: t for t in tiers}
    with transaction.atomic():
        LoyaltyAccount.objects.select_for_update().filter(pk=account_id).get()
        membership = CustomerTier.objects.filter(account_id=account_id).first()
        current = by_id.get(membership.tier_id) if membership else None
        totals = _totals(account_id, ladder, now)
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
            change = _record_change(account_id, current, new_tier, why, value, now, details)
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


def reevaluate_channel(
    channel_slug: str,
    *,
    settings: MembershipSettings,
    reason: str = TierChange.Reason.REEVALUATION,
    now: datetime | None = None,
    batch_size: int = 500,
) -> ReevaluationReport:
    """Evaluate every live account of the channel (not merged, not anonymised), in
    batches, one transaction each."""
    now = now or timezone.now()
    report = ReevaluationReport()
    # Read once for the whole run: a threshold edit meanwhile triggers its own run.
    ladder = tiers_of_channel(channel_slug)
    if not ladder:
        return report
    last_id = 0
    while True:
        ids = list(
            LoyaltyAccount.objects.in_channel(channel_slug)
            .live()
            .filter(pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
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


def _reevaluate_after_commit(channel_slug: str) -> None:
    # The change is saved either way: a broker outage is logged, not turned into an error
    # that would tell the merchant nothing changed; the nightly re-evaluation catches up.
    from ..enqueue import enqueue_after_commit
    from ..tasks import reevaluate_tiers_task

    enqueue_after_commit(
        reevaluate_tiers_task, channel_slug, TierChange.Reason.THRESHOLDS_CHANGED.value
    )


# --- birthdays ------------------------------------------------------------------------------


def set_birthday(
    customer_id: int,
    *,
    month: int,
    day: int,
    year: int | None = None,
    now: datetime | None = None,
    staff: bool = False,
) -> CustomerProfile:
    """Record the customer's birthday. Customers may change it once a year (staff always),
    so birthday gifts cannot be farmed. Raises ``InvalidInput`` (fields month, day, year)
    or ``BirthdayLocked``."""
    now = now or timezone.now()
    errors = birthday_errors(month, day, year, today_year=now.year)
    if errors:
        raise InvalidInput(errors)
    if not is_whole_number(customer_id):
        raise InvalidInput({"customer_id": "Unknown customer."})
    with transaction.atomic():
        profile = (
            CustomerProfile.objects.select_for_update().filter(customer_id=customer_id).first()
        )
        if profile is None:
            try:
                with transaction.atomic():
                    return CustomerProfile.objects.create(
                        customer_id=customer_id,
                        birth_month=month,
                        birth_day=day,
                        birth_year=year,
                        birthday_set_at=now,
                    )
            except IntegrityError:
                profile = CustomerProfile.objects.select_for_update().get(customer_id=customer_id)
        if (profile.birth_month, profile.birth_day, profile.birth_year) == (month, day, year):
            return profile
        if not staff and profile.birthday_set_at > now - BIRTHDAY_CHANGE_INTERVAL:
            next_change = profile.birthday_set_at + BIRTHDAY_CHANGE_INTERVAL
            raise BirthdayLocked(
                "Your birthday can be changed once a year; next on "
                f"{next_change.date().isoformat()}. Contact us to correct it sooner.",
                # The API's argument (month, day, year); "month" leads it.
                field="month",
                zh=f"生日每年只能修改一次，下次可修改日期为 {next_change.date().isoformat()}。"
                "如需尽快更正，请联系我们。",
            )
        profile.birth_month, profile.birth_day, profile.birth_year = month, day, year
        profile.birthday_set_at = now
        profile.save()
        return profile


def birthday_errors(month: Any, day: Any, year: Any, *, today_year: int) -> list[FieldError]:
    """Customer-facing problems with a birthday, in English and Simplified Chinese."""
    errors: list[FieldError] = []

    def refuse(field: str, english: str, chinese: str) -> None:
        errors.append(FieldError(field, "invalid", english, {"zh-Hans": chinese}))

    month_ok = is_whole_number(month) and 1 <= month <= 12
    if not month_ok:
        refuse("month", "Enter the month as a whole number from 1 to 12.", "月份请填写 1 到 12。")
    year_ok = year is None or (is_whole_number(year) and 1900 <= year <= today_year)
    if not year_ok:
        refuse(
            "year",
            f"Enter a year from 1900 to {today_year}, or leave it empty.",
            f"年份请填写 1900 到 {today_year}，或留空。",
        )
    if not is_whole_number(day):
        refuse("day", "Enter the day as a whole number.", "日期请填写整数。")
    elif month_ok:
        # Without a year, 29 February is allowed (leap-year birthdays exist).
        leap_or_given = year if year is not None and year_ok else 2000
        days = calendar.monthrange(leap_or_given, month)[1]
        if not (1 <= day <= days):
            refuse("day", f"That month has days 1 to {days}.", f"该月只有 1 到 {days} 日。")
    return errors


def grant_birthday_gifts(
    channel_slug: str, settings: ChannelSettings, *, now: datetime | None = None
) -> int:
    """Give today's birthday customers of the channel their tier's birthday gift points.

    "Today" is the shop's day in its timezone; 29 February birthdays are celebrated on
    28 February in other years. The ledger key ``birthday:<account>:<year>`` makes the
    gift once a year whatever runs twice. Returns how many gifts were given now.
    """
    from zoneinfo import ZoneInfo

    from .ledger import adjust_points

    now = now or timezone.now()
    today = now.astimezone(ZoneInfo(settings.ledger.timezone)).date()
    days = [(today.month, today.day)]
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        days.append((2, 29))
    born_today = Q()
    for month, day in days:
        born_today |= Q(birth_month=month, birth_day=day)
    customers = CustomerProfile.objects.filter(born_today).values_list("customer_id", flat=True)
    gifts = (
        TierBenefit.objects.filter(
            kind=BenefitKind.BIRTHDAY_GIFT,
            is_active=True,
            tier__channel_slug=channel_slug,
            tier__members__account__customer_id__in=customers,
            tier__members__account__merged_into__isnull=True,
        )
        .values_list("tier__members__account_id", "value")
        .order_by("tier__members__account_id")
    )
    best: dict[int, Decimal] = {}
    for account_id, value in gifts:
        best[account_id] = max(best.get(account_id, Decimal(0)), value or Decimal(0))
    given = 0
    for account_id, points in best.items():
        key = f"birthday:{account_id}:{today.year}"
        if points <= 0 or PointsEntry.objects.filter(idempotency_key=key).exists():
            continue
        adjust_points(
            account_id,
            int(points),
            reason="Happy birthday! 生日快乐！",
            texts={"en": "Happy birthday!", "zh-Hans": "生日快乐！"},
            actor="system:birthday-gift",
            idempotency_key=key,
            settings=settings.ledger,
            now=now,
        )
        given += 1
    return given


def birthday_of(customer_id: int) -> CustomerProfile | None:
    return CustomerProfile.objects.filter(customer_id=customer_id).first()


def anonymise_membership(customer_id: int) -> int:
    """Delete the customer's birthday; returns rows deleted."""
    deleted, _ = CustomerProfile.objects.filter(customer_id=customer_id).delete()
    return deleted


# --- internals ------------------------------------------------------------------------------


def _get_tier(tier_id: Any) -> MembershipTier:
    if not is_whole_number(tier_id):
        raise TierNotFound("No such tier.", field="id")
    tier = MembershipTier.objects.filter(pk=tier_id).first()
    if tier is None:
        raise TierNotFound("No such tier.", field="id")
    return tier


def _rule(tier: MembershipTier) -> rules.TierRule:
    return rules.TierRule(
        tier_id=tier.pk or -1,
        rank=tier.rank,
        basis=rules.Basis(tier.threshold_kind),
        threshold=Decimal(tier.threshold_value),
        window_months=tier.window_months,
    )


def _totals(
    account_id: int, ladder: list[rules.TierRule], now: datetime
) -> dict[int, rules.Totals]:
    """Points earned and amount spent per window the ladder uses: one aggregate query."""
    windows = sorted({rule.window_months for rule in ladder})
    if not windows:
        return {}
    aggregates: dict[str, Any] = {}
    money: DecimalField = DecimalField(max_digits=16, decimal_places=2)
    for months in windows:
        start = rules.window_start(now, months)
        condition = Q(placed_at__lte=now) & (Q() if start is None else Q(placed_at__gte=start))
        aggregates[f"points_{months}"] = Coalesce(Sum("points_earned", filter=condition), 0)
        aggregates[f"amount_{months}"] = Coalesce(
            Sum("amount_spent", filter=condition), Value(Decimal(0)), output_field=money
        )
    # A guest account merged into this one brings the orders recorded before the merge.
    owned = Q(account_id=account_id) | Q(account__merged_into_id=account_id)
    row = QualifyingOrder.objects.filter(owned).aggregate(**aggregates)
    return {
        months: rules.Totals(int(row[f"points_{months}"]), Decimal(row[f"amount_{months}"]))
        for months in windows
    }


def _record_change(
    account_id: int,
    from_tier: MembershipTier | None,
    to_tier: MembershipTier,
    reason: str,
    value: Decimal | None,
    now: datetime,
    details: Mapping[str, Any] | None = None,
) -> TierChange:
    change = TierChange.objects.create(
        account_id=account_id,
        from_tier=from_tier,
        to_tier=to_tier,
        from_code=from_tier.code if from_tier else "",
        to_code=to_tier.code,
        reason=reason,
        qualifying_value=value,
        details=dict(details or {}),
        changed_at=now,
    )
    signals.send_after_commit(
        signals.tier_changed,
        account_id=account_id,
        channel_slug=to_tier.channel_slug,
        customer_id=LoyaltyAccount.objects.filter(pk=account_id)
        .values_list("customer_id", flat=True)
        .first(),
        change_id=change.pk,
        from_tier=change.from_code,
        to_tier=change.to_code,
        reason=reason,
    )
    return change
