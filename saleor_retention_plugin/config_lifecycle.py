"""Per-channel settings of the replenishment and win-back flows and of recommendations.

Declared like every other setting (``SettingField``: name, label, help text, default,
parser) and parsed once into the frozen sections ``ReplenishmentSettings``,
``WinbackSettings`` and ``RecommendationSettings`` that ``conf.ChannelSettings`` holds.
Rules that span fields (one discount per win-back step, a product link when
replenishment is on) are in each section's ``problems``, keyed by the field to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .config_fields import FieldType, SettingField
from .config_values import (
    _at_least_one,
    _parse_positive_days,
    parse_bool,
    parse_choice,
    parse_non_negative_int,
    parse_optional_discount,
    parse_text,
)
from .domain.replenishment import (
    PRESETS,
    CycleTable,
)
from .domain.schedules import DiscountKind, Incentive
from .domain.winback import (
    MAX_STEPS,
    IncentiveKind,
    WinbackPolicy,
    WinbackStep,
    parse_step_discounts,
)

MAX_LEAD_DAYS = 60
MAX_DORMANCY_FACTOR = Decimal(10)


def parse_cycles(raw: Any) -> CycleTable:
    return CycleTable.parse(parse_text(raw))


def parse_product_url_template(raw: Any) -> str:
    text = parse_text(raw)
    if not text:
        return ""
    if "{product_id}" not in text:
        raise ValueError(
            "Include {product_id} where the product goes, for example "
            "https://shop.example/products/{product_id}."
        )
    try:
        example = text.format(product_id="1")
    except (KeyError, IndexError, ValueError):
        raise ValueError("Use only the {product_id} placeholder.") from None
    if not example.startswith(("https://", "http://")):
        raise ValueError("Enter a full link starting with https://.")
    return text


def parse_step_days(raw: Any) -> tuple[int, ...]:
    """``"0, 14, 30"``: days after dormancy of each win-back step, increasing."""
    parts = [part.strip() for part in str(raw).split(",") if part.strip()]
    if not 1 <= len(parts) <= MAX_STEPS:
        raise ValueError(f"Enter 1 to {MAX_STEPS} steps, for example 0, 14, 30.")
    days = tuple(parse_non_negative_int(part, maximum=365) for part in parts)
    if list(days) != sorted(set(days)):
        raise ValueError("Each step must come after the one before, for example 0, 14, 30.")
    return days


def parse_dormancy_factor(raw: Any) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError("Enter a number such as 2 or 2.5.") from None
    if not value.is_finite() or not 1 <= value <= MAX_DORMANCY_FACTOR:
        raise ValueError(f"Enter a number from 1 to {MAX_DORMANCY_FACTOR}.")
    return value


@dataclass(frozen=True)
class ReplenishmentSettings:
    replenishment_enabled: bool = False
    replenishment_lead_days: int = 3
    replenishment_cycles: CycleTable = CycleTable()  # noqa: RUF009 (immutable)
    product_url_template: str = ""
    replenishment_coupon_discount: str = ""
    replenishment_coupon_valid_days: int = 14

    @property
    def incentive(self) -> Incentive | None:
        """The reminder's single-use coupon (``replenishment_coupon_*``), None when off."""
        if not self.replenishment_coupon_discount:
            return None
        text = self.replenishment_coupon_discount
        kind = DiscountKind.PERCENTAGE if text.endswith("%") else DiscountKind.FIXED
        return Incentive(
            kind, Decimal(text.rstrip("%")), valid_days=self.replenishment_coupon_valid_days
        )

    def problems(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        if self.replenishment_enabled and not self.product_url_template:
            errors["product_url_template"] = (
                "Replenishment reminders link straight to the product: enter your "
                "storefront's product link with {product_id}."
            )
        return errors


@dataclass(frozen=True)
class WinbackSettings:
    winback_enabled: bool = False
    winback_dormancy_factor: Decimal = Decimal(2)
    winback_default_days: int = 90
    winback_step_days: tuple[int, ...] = (0, 14, 30)
    winback_step_discounts: str = "10%, 15%, 20%"
    winback_perk: str = "Early access to our next collection"
    winback_others_get: IncentiveKind = IncentiveKind.DISCOUNT

    def problems(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        try:
            parse_step_discounts(self.winback_step_discounts, len(self.winback_step_days))
        except ValueError as error:
            errors["winback_step_discounts"] = str(error)
        if not self.winback_perk.strip():
            errors["winback_perk"] = "Describe the perk high-value customers get."
        return errors

    @property
    def policy(self) -> WinbackPolicy:
        """The domain's policy.

        Settings stored before they were checked (read leniently) may hold discounts that
        do not match the steps: then no step offers a discount rather than a wrong one.
        """
        try:
            discounts = parse_step_discounts(
                self.winback_step_discounts, len(self.winback_step_days)
            )
        except ValueError:
            discounts = ("",) * len(self.winback_step_days)
        return WinbackPolicy(
            dormancy_factor=self.winback_dormancy_factor,
            default_days=self.winback_default_days,
            steps=tuple(
                WinbackStep(days, discount)
                for days, discount in zip(self.winback_step_days, discounts, strict=True)
            ),
            perk=self.winback_perk,
            others=self.winback_others_get,
        )


@dataclass(frozen=True)
class RecommendationSettings:
    recommendations_min_support: int = 3
    recommendations_exclude_days: int = 90


REORDER_FIELDS: tuple[SettingField, ...] = (
    SettingField(
        name="replenishment_enabled",
        label="Send replenishment reminders",
        help_text=(
            "Remind customers a few days before they are expected to run out of a product "
            "they bought, with a link straight back to it."
        ),
        default="false",
        parse=parse_bool,
        type=FieldType.BOOLEAN,
    ),
    SettingField(
        name="replenishment_lead_days",
        label="Days before run-out to remind",
        help_text="The reminder goes out this many days before the expected run-out.",
        default="3",
        parse=lambda raw: parse_non_negative_int(raw, maximum=MAX_LEAD_DAYS),
    ),
    SettingField(
        name="replenishment_cycles",
        label="Usage cycles",
        help_text=(
            "One per line: product:ID, product_type:ID or category:ID = a preset or days "
            "(min-max). Presets: "
            + ", ".join(
                f"{name} {cycle.min_days}-{cycle.max_days} days" for name, cycle in PRESETS.items()
            )
            + ". Example: category:12 = beauty. A customer's own repurchase interval and the "
            "product's median across customers win over these when known."
        ),
        default="",
        parse=parse_cycles,
        type=FieldType.MULTILINE,
    ),
    SettingField(
        name="product_url_template",
        label="Product link",
        help_text=(
            "Your storefront's product page with {product_id}, for example "
            "https://shop.example/products/{product_id}."
        ),
        default="",
        parse=parse_product_url_template,
    ),
    SettingField(
        name="replenishment_coupon_discount",
        label="Replenishment coupon",
        help_text=(
            "Empty for none; 10% for a percentage off the reorder, or 5 for a fixed amount "
            "in the channel's currency. A single-use Saleor voucher code in each reminder."
        ),
        default="",
        parse=parse_optional_discount,
    ),
    SettingField(
        name="replenishment_coupon_valid_days",
        label="Replenishment coupon valid for (days)",
        help_text="Days the replenishment coupon can be used after the reminder is sent, 1 to 365.",
        default="14",
        parse=lambda raw: _at_least_one(parse_non_negative_int(raw, maximum=365)),
    ),
    SettingField(
        name="winback_enabled",
        label="Send win-back messages",
        help_text="Reach out to customers who stopped ordering, in an escalating series.",
        default="false",
        parse=parse_bool,
        type=FieldType.BOOLEAN,
    ),
    SettingField(
        name="winback_dormancy_factor",
        label="Dormant after this many usual intervals",
        help_text=(
            "A customer is dormant after this many times the usual gap between their orders "
            "(at least 14 days)."
        ),
        default="2",
        parse=parse_dormancy_factor,
    ),
    SettingField(
        name="winback_default_days",
        label="Days without an order (no usual interval)",
        help_text="Customers with a single order count as dormant after this many days.",
        default="90",
        parse=lambda raw: _parse_positive_days(raw, maximum=730),
    ),
    SettingField(
        name="winback_step_days",
        label="Win-back steps (days after dormancy)",
        help_text="Days after the customer became dormant, one per message, increasing.",
        default="0, 14, 30",
        parse=parse_step_days,
    ),
    SettingField(
        name="winback_step_discounts",
        label="Win-back discount per step",
        help_text=(
            "One per step: a percentage such as 15% or a fixed amount such as 5; 0 for none. "
            "Price-sensitive customers get it."
        ),
        default="10%, 15%, 20%",
        parse=parse_text,
    ),
    SettingField(
        name="winback_perk",
        label="Win-back perk for high-value customers",
        help_text=(
            "What high-value customers are offered instead of a discount: early access, "
            "a service, a gift."
        ),
        default="Early access to our next collection",
        parse=parse_text,
    ),
    SettingField(
        name="winback_others_get",
        label="Other customers get",
        help_text="discount, perk or none: the offer for customers neither high-value nor "
        "price-sensitive.",
        default=IncentiveKind.DISCOUNT.value,
        parse=parse_choice(IncentiveKind),
    ),
    SettingField(
        name="recommendations_min_support",
        label="Recommend pairs bought together at least",
        help_text="Orders that must hold both products before one is recommended with the other.",
        default="3",
        parse=lambda raw: _at_least_one(parse_non_negative_int(raw, maximum=1000)),
    ),
    SettingField(
        name="recommendations_exclude_days",
        label="Do not recommend what was bought in the last days",
        help_text="Products the customer bought within this many days are not recommended.",
        default="90",
        parse=lambda raw: parse_non_negative_int(raw, maximum=730),
    ),
)
