"""The points mall's catalogue (staff): rewards, their validation, prize draws' seeds."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from ...domain import draws
from ...models import Redemption, Reward, RewardKind
from ..errors import InvalidInput, NotFound
from ..inputs import clean_texts, parse_amount, parse_whole_number

if TYPE_CHECKING:
    from django.db.models import QuerySet

logger = logging.getLogger(__name__)


MAX_POINTS_COST = 10_000_000


MAX_STOCK = 10_000_000


MAX_PER_CUSTOMER_LIMIT = 1000


MAX_DISCOUNT = Decimal("1000000000")


PRIZE_KINDS = (
    RewardKind.FIXED_DISCOUNT,
    RewardKind.PERCENTAGE_DISCOUNT,
    RewardKind.FREE_SHIPPING,
    RewardKind.GIFT_PRODUCT,
)


PRIZE_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class RewardNotFound(NotFound):
    pass


def rewards_of_channel(
    channel_slug: str, *, now: datetime | None = None, available_only: bool = True
) -> QuerySet[Reward]:
    """Rewards of a channel; by default only those a customer can redeem now."""
    rewards = Reward.objects.in_channel(channel_slug)
    if available_only:
        rewards = rewards.available_at(now or timezone.now())
    return rewards.order_by("position", "points_cost", "id")


REWARD_FIELDS = (
    "kind",
    "name",
    "description",
    "points_cost",
    "discount_value",
    "min_order_amount",
    "gift_product_id",
    "stock",
    "per_customer_limit",
    "active_from",
    "active_until",
    "is_active",
    "code_validity_days",
    "draw_prizes",
    "position",
)


def create_reward(channel_slug: str, **fields: Any) -> Reward:
    """Add a reward.

    Fields: kind, name, description, points_cost, discount_value, min_order_amount, gift_product_id,
    stock, per_customer_limit, active_from, active_until, is_active, code_validity_days,
    draw_prizes, position. Raises ``InvalidInput`` with per-field messages. Draw rewards get a fresh
    secret seed.
    """
    for required in ("kind", "name", "points_cost"):
        fields.setdefault(required, None)
    reward = Reward(channel_slug=channel_slug)
    return _save_reward(reward, fields)


def update_reward(reward_id: int, **changes: Any) -> Reward:
    reward = _get_reward(reward_id)
    return _save_reward(reward, changes)


def _save_reward(reward: Reward, values: Mapping[str, Any]) -> Reward:
    unknown = set(values) - set(REWARD_FIELDS)
    if unknown:
        raise InvalidInput(dict.fromkeys(sorted(unknown), "Unknown field."))
    merged = {field: values.get(field, getattr(reward, field)) for field in REWARD_FIELDS}
    cleaned, errors = clean_reward(merged)
    if errors:
        raise InvalidInput(errors)
    for field, value in cleaned.items():
        setattr(reward, field, value)
    if reward.kind == RewardKind.PRIZE_DRAW and not reward.draw_seed:
        reward.draw_seed = draws.new_seed()
        reward.draw_seed_hash = draws.seed_hash(reward.draw_seed)
    with transaction.atomic():
        if reward.pk:
            # Serialise with redemptions: stock edits never race a redemption's decrement.
            Reward.objects.select_for_update().filter(pk=reward.pk).first()
        reward.save()
    return reward


def clean_reward(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate a reward's fields together; returns cleaned values and per-field messages."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    kind = getattr(values.get("kind"), "value", values.get("kind"))
    if kind not in RewardKind.values:
        errors["kind"] = f"Choose one of: {', '.join(RewardKind.values)}."
    cleaned["kind"] = kind
    for field, required, length in (("name", True, 100), ("description", False, 2000)):
        try:
            cleaned[field] = clean_texts(values.get(field), required=required, max_length=length)
        except ValueError as error:
            errors[field] = str(error)
    try:
        cleaned["points_cost"] = parse_whole_number(
            values.get("points_cost"), maximum=MAX_POINTS_COST
        )
    except ValueError as error:
        errors["points_cost"] = str(error)
    cleaned["discount_value"] = _clean_discount(
        kind, values.get("discount_value"), errors, "discount_value"
    )
    cleaned["min_order_amount"] = _optional_amount(
        values.get("min_order_amount"), errors, "min_order_amount"
    )
    cleaned["gift_product_id"] = str(values.get("gift_product_id") or "").strip()
    if kind == RewardKind.GIFT_PRODUCT and not cleaned["gift_product_id"]:
        errors["gift_product_id"] = "Choose the product given as a gift."
    if len(cleaned["gift_product_id"]) > 64:
        errors["gift_product_id"] = "Enter a product id of at most 64 characters."
    cleaned["stock"] = _optional_int(values.get("stock"), 0, MAX_STOCK, errors, "stock")
    cleaned["per_customer_limit"] = _optional_int(
        values.get("per_customer_limit"), 1, MAX_PER_CUSTOMER_LIMIT, errors, "per_customer_limit"
    )
    cleaned["code_validity_days"] = _optional_int(
        values.get("code_validity_days"), 1, 3650, errors, "code_validity_days"
    )
    position = values.get("position") or 0
    cleaned["position"] = _optional_int(position, 0, 1000, errors, "position")
    is_active = values.get("is_active")
    if is_active is None:
        is_active = True
    if not isinstance(is_active, bool):
        errors["is_active"] = "Enter true or false."
    cleaned["is_active"] = is_active
    for field in ("active_from", "active_until"):
        moment = values.get(field)
        if moment is not None and (not isinstance(moment, datetime) or timezone.is_naive(moment)):
            errors[field] = "Enter a date and time with a timezone."
            moment = None
        cleaned[field] = moment
    if (
        cleaned["active_from"]
        and cleaned["active_until"]
        and cleaned["active_until"] <= cleaned["active_from"]
    ):
        errors["active_until"] = "The end must be after the start."
    prizes = values.get("draw_prizes") or []
    if kind == RewardKind.PRIZE_DRAW:
        cleaned["draw_prizes"] = _clean_prizes(prizes, errors)
    elif prizes:
        errors["draw_prizes"] = "Only prize draws have prizes."
    else:
        cleaned["draw_prizes"] = []
    return cleaned, errors


def _clean_discount(kind: Any, raw: Any, errors: dict[str, str], field: str) -> Decimal | None:
    if kind in (RewardKind.FIXED_DISCOUNT, RewardKind.PERCENTAGE_DISCOUNT):
        if raw is None or raw == "":
            errors[field] = "Enter the discount: an amount off, or a percentage off."
            return None
        try:
            value = parse_amount(raw, maximum=MAX_DISCOUNT)
        except ValueError as error:
            errors[field] = str(error)
            return None
        if value <= 0:
            errors[field] = "Enter a discount greater than zero."
        elif kind == RewardKind.PERCENTAGE_DISCOUNT and value > 100:
            errors[field] = "A percentage discount is at most 100."
        return value
    if raw not in (None, ""):
        errors[field] = "Only fixed and percentage discounts have a discount value."
    return None


def _optional_amount(raw: Any, errors: dict[str, str], field: str) -> Decimal | None:
    if raw in (None, ""):
        return None
    try:
        return parse_amount(raw, maximum=MAX_DISCOUNT)
    except ValueError as error:
        errors[field] = str(error)
        return None


def _optional_int(
    raw: Any, minimum: int, maximum: int, errors: dict[str, str], field: str
) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = parse_whole_number(raw, maximum=maximum, minimum=minimum)
    except ValueError as error:
        errors[field] = str(error)
        return None
    return value


def _clean_prizes(raw: Any, errors: dict[str, str]) -> list[dict[str, Any]]:
    field = "draw_prizes"
    if not isinstance(raw, list) or not raw:
        errors[field] = "List at least one prize with its probability."
        return []
    if len(raw) > 20:
        errors[field] = "A draw has at most 20 prizes."
        return []
    prizes: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(raw, start=1):
        where = f"Prize {index}"
        if not isinstance(item, Mapping):
            errors[field] = f"{where}: enter an object."
            return []
        code = str(item.get("code") or "").strip().lower()
        if not PRIZE_CODE.match(code) or code in seen:
            errors[field] = f"{where}: give each prize a unique short code, e.g. coupon-10."
            return []
        seen.add(code)
        kind = item.get("kind")
        if kind not in PRIZE_KINDS:
            errors[field] = f"{where}: choose a kind among {', '.join(PRIZE_KINDS)}."
            return []
        prize_errors: dict[str, str] = {}
        value = _clean_discount(kind, item.get("discount_value"), prize_errors, "value")
        try:
            ppm = draws.probability_to_ppm(item.get("probability"))
            name = clean_texts(item.get("name"), required=True, max_length=100)
        except ValueError as error:
            prize_errors["value"] = str(error)
        quantity = _optional_int(item.get("quantity"), 0, MAX_STOCK, prize_errors, "value")
        gift = str(item.get("gift_product_id") or "").strip()
        if kind == RewardKind.GIFT_PRODUCT and not gift:
            prize_errors["value"] = "choose the gift product."
        if prize_errors:
            errors[field] = f"{where}: {next(iter(prize_errors.values()))}"
            return []
        prizes.append(
            {
                "code": code,
                "name": name,
                "kind": kind,
                "probability": str(Decimal(ppm) / draws.SCALE),
                "discount_value": str(value) if value is not None else None,
                "gift_product_id": gift,
                "quantity": quantity,
            }
        )
    if sum(draws.probability_to_ppm(prize["probability"]) for prize in prizes) > draws.SCALE:
        errors[field] = "The probabilities add up to more than 1 (100%)."
        return []
    return prizes


def delete_reward(reward_id: int) -> bool:
    """Delete a never-redeemed reward; deactivate one with redemptions (history stays).

    Returns True when deleted, False when deactivated.
    """
    # Only the id is read: a row whose dates Python cannot read back (written before
    # input was checked) can still be deleted.
    reward = _get_reward(reward_id, only=("pk",))
    with transaction.atomic():
        Reward.objects.select_for_update().filter(pk=reward.pk).values_list("pk").first()
        if Redemption.objects.filter(reward_id=reward.pk).exists():
            Reward.objects.filter(pk=reward.pk).update(is_active=False)
            return False
        Reward.objects.only("pk").filter(pk=reward.pk).delete()
        return True


def reveal_draw_seed(reward_id: int) -> str:
    """The secret seed of a prize draw, for an auditor (staff only)."""
    reward = _get_reward(reward_id)
    if reward.kind != RewardKind.PRIZE_DRAW:
        raise InvalidInput({"id": "This reward is not a prize draw."})
    return reward.draw_seed


def _clean_reward_id(raw: Any) -> int:
    try:
        return parse_whole_number(raw, maximum=2**63 - 1)
    except ValueError:
        raise RewardNotFound(
            "No such reward in this shop.", field="reward_id", zh="本店没有这个奖品。"
        ) from None


def _get_reward(reward_id: Any, *, only: tuple[str, ...] = ()) -> Reward:
    rewards = Reward.objects.only(*only) if only else Reward.objects.all()
    reward = rewards.filter(pk=_clean_reward_id(reward_id)).first()
    if reward is None:
        raise RewardNotFound("No such reward.", field="id")
    return reward
