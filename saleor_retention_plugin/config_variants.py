"""Per-channel variant B of each flow: another subject and/or incentive, and its share.

Every flow in ``VARIANT_FLOWS`` gets the same few dashboard fields, declared from that
one table (``VARIANT_FIELDS``) and parsed once into ``VariantSettings``
(``ChannelSettings.variants``):

* ``<flow>_variant_b_subject_en`` / ``<flow>_variant_b_subject_zh_hans``: the subject
  variant B's customers read in English / Simplified Chinese, optional; it may name the
  flow's variables (``{points}``, ``{coupon}``...: ``VariantFlow.variables``);
* ``<flow>_variant_b_incentive``, only on flows with an incentive: variant B's coupon
  (``15%`` or a fixed ``5``), one discount per step for win-back (``15%, 20%, 25%``),
  gift points for birthdays;
* ``<flow>_variant_b_share``: the percentage of the flow's messaged subjects in B
  (1-99, 50 by default).

Variant B is on when it changes the subject (in at least one language) or the
incentive; then each enrolment draws A or B once, independently of the holdout
(``services.flow_variants``). Stored configurations without these fields parse as
before: every flow has one variant.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .config_fields import FieldType, SettingField
from .config_values import (
    parse_non_negative_int,
    parse_optional_discount,
    parse_text,
)
from .domain.campaigns import text_problems

if TYPE_CHECKING:
    from collections.abc import Mapping

LANGUAGES = (("en", "English"), ("zh_hans", "Simplified Chinese"))
DEFAULT_SHARE = 50
MAX_SUBJECT_LENGTH = 200
MAX_GIFT_POINTS = 100_000


class IncentiveSize(enum.StrEnum):
    COUPON = "coupon"  # one coupon discount: 15% or a fixed 5
    STEP_COUPONS = "step_coupons"  # one discount per win-back step
    POINTS = "points"  # gift points


@dataclass(frozen=True)
class VariantFlow:
    """A flow that may have a variant B: its name, label, subject variables, incentive.

    ``replaces``: the ``ChannelSettings`` section and field variant B's incentive stands
    in for at send time (None: the flow applies it itself, as birthdays' gift points).
    """

    flow: str
    label: str
    variables: tuple[str, ...]
    incentive: IncentiveSize | None = None
    replaces: tuple[str, str] | None = None

    def field(self, part: str) -> str:
        return f"{self.flow}_variant_b_{part}"


VARIANT_FLOWS: tuple[VariantFlow, ...] = (
    VariantFlow(
        "welcome", "Welcome", ("points", "tier", "coupon"),
        IncentiveSize.COUPON, ("lifecycle", "welcome_coupon_discount"),
    ),
    VariantFlow(
        "care", "Post-purchase care", ("order_number", "coupon"),
        IncentiveSize.COUPON, ("care", "care_coupon_discount"),
    ),
    VariantFlow(
        "replenishment", "Replenishment", ("product", "coupon"),
        IncentiveSize.COUPON, ("replenishment", "replenishment_coupon_discount"),
    ),
    VariantFlow(
        "winback", "Win-back", ("coupon",),
        IncentiveSize.STEP_COUPONS, ("winback", "winback_step_discounts"),
    ),
    VariantFlow("birthday", "Birthday", ("tier", "gift_points", "coupon"), IncentiveSize.POINTS),
    VariantFlow("member_day", "Member day", ("member_day", "tier")),
    VariantFlow(
        "points_expiring", "Points expiring",
        ("expiring_points", "expires_on", "days_left", "points", "tier"),
    ),
    VariantFlow("tier_upgrade", "Tier upgrade", ("tier", "points")),
    VariantFlow(
        "cart", "Cart reminders", ("total", "coupon"),
        IncentiveSize.COUPON, ("reminders", "cart_incentive_discount"),
    ),
)  # fmt: skip
VARIANT_FLOW = {variant_flow.flow: variant_flow for variant_flow in VARIANT_FLOWS}


def parse_subject(variables: tuple[str, ...]) -> Any:
    def parse(raw: Any) -> str:
        text = parse_text(raw)
        if len(text) > MAX_SUBJECT_LENGTH:
            raise ValueError(f"Keep the subject to {MAX_SUBJECT_LENGTH} characters.")
        problems = text_problems(text, variables)
        if problems:
            raise ValueError(problems[0])
        return text

    return parse


def parse_share(raw: Any) -> int:
    value = parse_non_negative_int(raw, maximum=99)
    if value < 1:
        raise ValueError("Enter a percentage from 1 to 99.")
    return value


def parse_step_coupons(raw: Any) -> str:
    """``"15%, 20%, 0"``: checked against the win-back steps in ``variant_problems``."""
    text = parse_text(raw)
    if any(part.strip().startswith("-") for part in text.split(",")):
        raise ValueError("Enter discounts greater than zero, or 0 for none.")
    return ", ".join(part.strip() for part in text.split(",")) if text else ""


def parse_gift_points(raw: Any) -> str:
    text = parse_text(raw)
    return str(parse_non_negative_int(text, maximum=MAX_GIFT_POINTS)) if text else ""


_INCENTIVE_PARSERS = {
    IncentiveSize.COUPON: parse_optional_discount,
    IncentiveSize.STEP_COUPONS: parse_step_coupons,
    IncentiveSize.POINTS: parse_gift_points,
}
_INCENTIVE_HELP = {
    IncentiveSize.COUPON: "a coupon of 15% or a fixed amount such as 5 instead of the flow's",
    IncentiveSize.STEP_COUPONS: "one discount per win-back step, as in Win-back discount per "
    "step, for example 15%, 20%, 25%",
    IncentiveSize.POINTS: "gift points instead of the tier's birthday points",
}


def _fields(variant_flow: VariantFlow) -> tuple[SettingField, ...]:
    names = ", ".join(f"{{{name}}}" for name in variant_flow.variables)
    fields = [
        SettingField(
            name=variant_flow.field(f"subject_{code}"),
            label=f"{variant_flow.label} variant B: subject ({language})",
            help_text=(
                f"Empty for none. Customers in variant B who read {language} get this "
                f"subject; it may use {names}."
            ),
            default="",
            parse=parse_subject(variant_flow.variables),
        )
        for code, language in LANGUAGES
    ]
    if variant_flow.incentive is not None:
        fields.append(
            SettingField(
                name=variant_flow.field("incentive"),
                label=f"{variant_flow.label} variant B: incentive",
                help_text=f"Empty for the same as variant A; else "
                f"{_INCENTIVE_HELP[variant_flow.incentive]}.",
                default="",
                parse=_INCENTIVE_PARSERS[variant_flow.incentive],
            )
        )
    fields.append(
        SettingField(
            name=variant_flow.field("share"),
            label=f"{variant_flow.label} variant B: share (%)",
            help_text="With a variant B subject or incentive: the percentage of messaged "
            "customers who get variant B, 1 to 99; the holdout is drawn separately.",
            default=str(DEFAULT_SHARE),
            parse=parse_share,
        )
    )
    return tuple(fields)


VARIANT_FIELDS: tuple[SettingField, ...] = tuple(
    field for variant_flow in VARIANT_FLOWS for field in _fields(variant_flow)
)


@dataclass(frozen=True)
class VariantB:
    """A flow's variant B, as the merchant set it.

    ``subjects``: per message language (``en``, ``zh_hans``; only those set);
    ``incentive``: dashboard text ("" for A's); ``share``: percent of messaged subjects.
    """

    flow: str
    subjects: tuple[tuple[str, str], ...] = ()
    incentive: str = ""
    share: int = DEFAULT_SHARE

    @property
    def label(self) -> str:
        """What the report names it by: ``"B: subject"``, ``"B: subject, coupon 15%"``."""
        changes = ["subject"] if self.subjects else []
        if self.incentive:
            size = VARIANT_FLOW[self.flow].incentive
            changes.append(f"{'points' if size is IncentiveSize.POINTS else 'coupon'} "
                           f"{self.incentive}")  # fmt: skip
        return "B: " + ", ".join(changes)

    def subject_for(self, language: str) -> str:
        """The subject for a message language (``en``, ``zh_hans``); "" when not set."""
        return dict(self.subjects).get(language, "")


@dataclass(frozen=True)
class VariantSettings:
    """Every flow's variant B that is on (see the module docstring)."""

    variants: tuple[VariantB, ...] = ()

    def for_flow(self, flow: str) -> VariantB | None:
        """The flow's variant B, or None when the flow has one variant."""
        for variant in self.variants:
            if variant.flow == flow:
                return variant
        return None

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> VariantSettings:
        """Built from the parsed field values (``ChannelSettings._parse``)."""
        variants = []
        for variant_flow in VARIANT_FLOWS:
            subjects = tuple(
                (code, text)
                for code, _ in LANGUAGES
                if (text := values.get(variant_flow.field(f"subject_{code}"), ""))
            )
            incentive = values.get(variant_flow.field("incentive"), "")
            if subjects or incentive:
                variants.append(
                    VariantB(
                        variant_flow.flow,
                        subjects,
                        incentive,
                        values.get(variant_flow.field("share"), DEFAULT_SHARE),
                    )
                )
        return cls(tuple(variants))

    def as_values(self) -> dict[str, Any]:
        """The field values these settings were built from (``as_configuration``)."""
        values: dict[str, Any] = {field.name: field.default for field in VARIANT_FIELDS}
        for variant in self.variants:
            variant_flow = VARIANT_FLOW[variant.flow]
            for code, text in variant.subjects:
                values[variant_flow.field(f"subject_{code}")] = text
            if variant_flow.incentive is not None:
                values[variant_flow.field("incentive")] = variant.incentive
            values[variant_flow.field("share")] = str(variant.share)
        return values


def stray_incentives(raw: Mapping[str, Any]) -> dict[str, str]:
    """An incentive sent for a flow that has none (a mapping from the API or sandbox).

    Saleor's dashboard has no such field; a caller sending a plain mapping may.
    """
    return {
        variant_flow.field("incentive"): (
            f"{variant_flow.label} has no incentive to vary: leave this empty and vary the subject."
        )
        for variant_flow in VARIANT_FLOWS
        if variant_flow.incentive is None and parse_text(raw.get(variant_flow.field("incentive")))
    }


def variant_problems(settings: Any) -> dict[str, str]:
    """Variant B incentives the flow's own settings give no place to (``ChannelSettings``)."""
    from .domain.care import CareStepKind
    from .domain.winback import parse_step_discounts

    errors: dict[str, str] = {}
    variants: VariantSettings = settings.variants
    cart = variants.for_flow("cart")
    if cart is not None and cart.incentive and not settings.reminders.cart_incentive_step:
        errors[VARIANT_FLOW["cart"].field("incentive")] = (
            "No cart reminder carries a coupon (Reminder that carries a coupon is 0): "
            "choose that reminder first."
        )
    care = variants.for_flow("care")
    if (
        care is not None
        and care.incentive
        and CareStepKind.COUPON not in {step.kind for step in settings.care.steps}
    ):
        errors[VARIANT_FLOW["care"].field("incentive")] = (
            "The care series has no repurchase coupon step: add it to Care steps first."
        )
    winback = variants.for_flow("winback")
    if winback is not None and winback.incentive:
        try:
            parse_step_discounts(winback.incentive, len(settings.winback.winback_step_days))
        except ValueError as error:
            errors[VARIANT_FLOW["winback"].field("incentive")] = str(error)
    return errors


__all__ = [
    "VARIANT_FIELDS",
    "VARIANT_FLOWS",
    "FieldType",
    "IncentiveSize",
    "VariantB",
    "VariantFlow",
    "VariantSettings",
]
