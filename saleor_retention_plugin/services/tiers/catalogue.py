"""A channel's tier ladder and its benefits (staff): seeding, creating, changing, removing.

A change of thresholds announces ``tier_thresholds_changed`` after commit; ``apps.ready()``
connects the re-evaluation of every account to it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ... import signals
from ...conf import MembershipSettings
from ...config_values import parse_discount
from ...domain import tiers as rules
from ...models import (
    CustomerTier,
    MembershipTier,
    ThresholdKind,
    TierBenefit,
    TierChange,
)
from .. import scan_gates
from ..errors import InvalidInput, NotFound
from ..inputs import clean_texts, is_whole_number, parse_amount
from .progress import _record_change, _totals

logger = logging.getLogger(__name__)


MAX_THRESHOLD = Decimal("999999999999")


MAX_TIERS_PER_CHANNEL = 20


MAX_NAME_LENGTH = 100


MAX_DESCRIPTION_LENGTH = 2000


TIER_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class TierNotFound(NotFound):
    pass


class BenefitNotFound(NotFound):
    pass


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
            scan_gates.inputs_changed(scan_gates.TIERS)  # member days announce by tier
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
        scan_gates.inputs_changed(scan_gates.TIERS)
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
        scan_gates.inputs_changed(scan_gates.TIERS)


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
    elif merged["kind"] == "birthday_gift" and "coupon" in config:
        try:
            config = {**config, "coupon": parse_discount(config["coupon"])}
        except ValueError as error:
            errors["config"] = f"coupon: {error}"
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


def _reevaluate_after_commit(channel_slug: str) -> None:
    # Announced, not enqueued: ``apps.ready()`` connects the re-evaluation task, so this
    # service runs without a broker. The change is saved either way; the nightly
    # re-evaluation catches up if the task cannot be enqueued.
    signals.send_after_commit(
        signals.tier_thresholds_changed,
        channel_slug=channel_slug,
        reason=TierChange.Reason.THRESHOLDS_CHANGED.value,
    )


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
