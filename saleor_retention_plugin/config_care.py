"""Per-channel settings of post-purchase care, review points and birthday greetings.

Declared like every other setting (``config_fields.SettingField``) and parsed once into
``CareSettings`` (``ChannelSettings.care``). Kept apart from the cart reminders' fields:
these flows are timed in days from an order or a birthday, not in hours from a cart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from .config_fields import FieldType, SettingField
from .config_values import (
    _parse_positive_days,
    parse_bool,
    parse_choice,
    parse_discount,
    parse_non_negative_int,
)
from .domain.birthdays import DEFAULT_GREETING_HOUR
from .domain.care import (
    DEFAULT_CARE_STEPS,
    MAX_SCORE,
    CareAnchor,
    CareStep,
    format_care_steps,
    parse_care_steps,
)
from .domain.schedules import DiscountKind, Incentive

MAX_REVIEW_POINTS = 100_000


def _parse_threshold(raw: str) -> int:
    value = parse_non_negative_int(raw, maximum=MAX_SCORE - 1)
    if value < 1:
        raise ValueError(f"Enter a score from 1 to {MAX_SCORE - 1}.")
    return value


def _parse_steps(raw: str) -> str:
    return format_care_steps(parse_care_steps(raw))


@dataclass(frozen=True)
class CareSettings:
    care_enabled: bool = False
    care_anchor: CareAnchor = CareAnchor.FULFILMENT
    care_payment_delay_days: int = 3
    # Normalised "step:day, ..." text (``steps`` parses it): stays dashboard text.
    care_steps: str = DEFAULT_CARE_STEPS
    care_low_score_threshold: int = 2
    care_rating_link_days: int = 30
    care_coupon_discount: str = "10%"
    care_coupon_valid_days: int = 14
    review_points: int = 0
    birthday_greetings_enabled: bool = False
    birthday_greeting_hour: int = DEFAULT_GREETING_HOUR
    member_day_announcements_enabled: bool = False

    @property
    def steps(self) -> tuple[CareStep, ...]:
        return parse_care_steps(self.care_steps)

    @property
    def payment_delay(self) -> timedelta:
        return timedelta(days=self.care_payment_delay_days)

    @property
    def rating_link_lifetime(self) -> timedelta:
        return timedelta(days=self.care_rating_link_days)

    @property
    def coupon(self) -> Incentive:
        text = self.care_coupon_discount
        kind = DiscountKind.PERCENTAGE if text.endswith("%") else DiscountKind.FIXED
        return Incentive(kind, Decimal(text.rstrip("%")), valid_days=self.care_coupon_valid_days)


CARE_FIELDS: tuple[SettingField, ...] = (
    SettingField(
        name="care_enabled",
        label="Post-purchase care messages",
        help_text="Send the care series after an order (satisfaction check, review "
        "invitation, related products, repurchase coupon).",
        default="false",
        parse=parse_bool,
        type=FieldType.BOOLEAN,
    ),
    SettingField(
        name="care_anchor",
        label="Count care days from",
        help_text="fulfilment: when the order is fulfilled in Saleor; payment: when it is "
        "paid plus the delay below (for shops that do not fulfil in Saleor).",
        default=CareAnchor.FULFILMENT.value,
        parse=parse_choice(CareAnchor),
    ),
    SettingField(
        name="care_payment_delay_days",
        label="Care: days from payment to delivery",
        help_text="With care counted from payment: how many days an order usually takes "
        "to arrive. Day 3 of the care series is this many days plus 3 after payment.",
        default="3",
        parse=lambda raw: parse_non_negative_int(raw, maximum=60),
    ),
    SettingField(
        name="care_steps",
        label="Care steps (step:day)",
        help_text="Which care messages go out on which day after the start, in order: "
        f"{DEFAULT_CARE_STEPS}. Leave a step out to switch it off. Days 1 to 365, "
        "increasing.",
        default=DEFAULT_CARE_STEPS,
        parse=_parse_steps,
    ),
    SettingField(
        name="care_low_score_threshold",
        label="Care: low satisfaction score",
        help_text="A rating at or below this score (1-4) is announced for follow-up "
        "(signal satisfaction_low_score).",
        default="2",
        parse=_parse_threshold,
    ),
    SettingField(
        name="care_rating_link_days",
        label="Care: rating links valid for (days)",
        help_text="A rating link in a satisfaction email works this many days.",
        default="30",
        parse=lambda raw: _parse_positive_days(raw, maximum=365),
    ),
    SettingField(
        name="care_coupon_discount",
        label="Care: repurchase coupon",
        help_text="The single-use coupon of the repurchase step: 10% or a fixed amount.",
        default="10%",
        parse=parse_discount,
    ),
    SettingField(
        name="care_coupon_valid_days",
        label="Care: repurchase coupon valid for (days)",
        help_text="Days the repurchase coupon can be used, 1 to 365.",
        default="14",
        parse=lambda raw: _parse_positive_days(raw, maximum=365),
    ),
    SettingField(
        name="review_points",
        label="Points for a review",
        help_text="Points a customer earns for a review (sent through the API: Saleor has "
        "no reviews). 0 turns review points off.",
        default="0",
        parse=lambda raw: parse_non_negative_int(raw, maximum=MAX_REVIEW_POINTS),
    ),
    SettingField(
        name="birthday_greetings_enabled",
        label="Birthday greetings",
        help_text="Greet customers on their birthday with their tier's birthday gift.",
        default="false",
        parse=parse_bool,
        type=FieldType.BOOLEAN,
    ),
    SettingField(
        name="birthday_greeting_hour",
        label="Birthday greeting hour (0-23)",
        help_text="The hour of the customer's morning, in the shop's timezone, at which "
        "the birthday greeting goes out.",
        default=str(DEFAULT_GREETING_HOUR),
        parse=lambda raw: parse_non_negative_int(raw, maximum=23),
    ),
    SettingField(
        name="member_day_announcements_enabled",
        label="Member day announcements",
        help_text="Tell members about an upcoming member day before their access starts "
        "(higher tiers first, each member's announce_hours ahead).",
        default="false",
        parse=parse_bool,
        type=FieldType.BOOLEAN,
    ),
)
