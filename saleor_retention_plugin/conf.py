"""Per-channel settings of the plugin, declared once and parsed once.

Saleor stores a plugin's configuration as a list of ``{"name", "value"}`` dicts with
string values (its dashboard has no number or choice fields). Every setting is
declared here a single time, with the label and help text the merchant sees; the
Saleor ``CONFIG_STRUCTURE`` / ``DEFAULT_CONFIGURATION`` and the typed, frozen
``ChannelSettings`` are all derived from these declarations, so the three can never
disagree. Bad values become per-field messages (``InvalidConfiguration.errors``)
that the plugin turns into dashboard field errors.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_POINTS_PER_CURRENCY_UNIT = Decimal(1000)


class CreditTrigger(str, enum.Enum):
    ORDER_CREATED = "order_created"
    ORDER_FULLY_PAID = "order_fully_paid"


class OverdraftPolicy(str, enum.Enum):
    """What happens when points to take back were already spent."""

    ALLOW_NEGATIVE = "allow_negative"  # the balance goes below zero; later earnings repay it
    CLAMP_TO_ZERO = "clamp_to_zero"  # take what is left, record the rest as written off


class InvalidConfiguration(ValueError):
    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.errors.items()))


class FieldType(str, enum.Enum):
    # Values of Saleor's ConfigurationTypeField; kept here so conf.py needs no Saleor import.
    STRING = "String"
    MULTILINE = "Multiline"
    BOOLEAN = "Boolean"
    SECRET = "Secret"
    SECRET_MULTILINE = "SecretMultiline"
    PASSWORD = "Password"
    OUTPUT = "OUTPUT"


@dataclass(frozen=True)
class SettingField:
    name: str
    label: str
    help_text: str
    default: str
    parse: Callable[[str], Any]
    type: FieldType = FieldType.STRING


def parse_decimal_rate(raw: str) -> Decimal:
    try:
        value = Decimal(raw.strip())
    except (InvalidOperation, AttributeError):
        raise ValueError("Enter a number, for example 1 or 0.5.") from None
    if not value.is_finite() or value < 0:
        raise ValueError("Enter a number that is zero or more.")
    if value > MAX_POINTS_PER_CURRENCY_UNIT:
        raise ValueError(f"Enter at most {MAX_POINTS_PER_CURRENCY_UNIT}.")
    return value


def parse_non_negative_int(raw: str, *, maximum: int) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ValueError("Enter a whole number, for example 0 or 30.") from None
    if value < 0:
        raise ValueError("Enter a whole number that is zero or more.")
    if value > maximum:
        raise ValueError(f"Enter at most {maximum}.")
    return value


def parse_timezone(raw: str) -> str:
    name = str(raw).strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"Unknown timezone {name!r}: use an IANA name such as Asia/Shanghai or Europe/Berlin."
        ) from None
    return name


def parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off", ""}:
        return False
    raise ValueError("Enter true or false.")


def parse_choice(enum_type: type[enum.Enum]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            return enum_type(str(raw).strip())
        except ValueError:
            allowed = ", ".join(str(member.value) for member in enum_type)
            raise ValueError(f"Choose one of: {allowed}.") from None

    return parse


LEDGER_FIELDS: tuple[SettingField, ...] = (
    SettingField(
        name="points_per_currency_unit",
        label="Points per currency unit",
        help_text=(
            "Points a customer earns for each whole unit of the channel currency spent, "
            "on the order subtotal after discounts, without shipping and tax, rounded down. "
            "1 means 1 point per 1 USD/CNY/EUR. 0 stops earning."
        ),
        default="1",
        parse=parse_decimal_rate,
    ),
    SettingField(
        name="credit_trigger",
        label="Credit points when",
        help_text=(
            "order_fully_paid: when the order is fully paid (recommended); "
            "order_created: as soon as the order is placed, paid or not."
        ),
        default=CreditTrigger.ORDER_FULLY_PAID.value,
        parse=parse_choice(CreditTrigger),
    ),
    SettingField(
        name="pending_days",
        label="Days before earned points can be spent",
        help_text=(
            "Points show in the customer's account at once; they become spendable after this "
            "many days, for example to cover your return window. 0 makes them spendable at once."
        ),
        default="0",
        parse=lambda raw: parse_non_negative_int(raw, maximum=365),
    ),
    SettingField(
        name="expiry_months",
        label="Months before points expire",
        help_text=(
            "Each order's points expire this many months after they were earned, at the end "
            "of that day in your timezone. 0 means points never expire."
        ),
        default="0",
        parse=lambda raw: parse_non_negative_int(raw, maximum=120),
    ),
    SettingField(
        name="timezone",
        label="Timezone",
        help_text="IANA timezone of your shop, for example Asia/Shanghai. Expiry days end here.",
        default="UTC",
        parse=parse_timezone,
    ),
    SettingField(
        name="overdraft_policy",
        label="When refunded points were already spent",
        help_text=(
            "allow_negative: the balance may go below zero and future earnings repay it; "
            "clamp_to_zero: take back only what is left and record the rest as written off."
        ),
        default=OverdraftPolicy.ALLOW_NEGATIVE.value,
        parse=parse_choice(OverdraftPolicy),
    ),
)


class TierBasis(enum.StrEnum):
    POINTS_EARNED = "points_earned"
    AMOUNT_SPENT = "amount_spent"


MEMBERSHIP_FIELDS: tuple[SettingField, ...] = (
    SettingField(
        name="tier_basis",
        label="Default tier qualification",
        help_text=(
            "What new and default tiers count: points_earned (points earned from orders) or "
            "amount_spent (order subtotal spent, after refunds). Spending points never lowers "
            "either. Each tier can be changed afterwards."
        ),
        default=TierBasis.POINTS_EARNED.value,
        parse=parse_choice(TierBasis),
    ),
    SettingField(
        name="tier_window_months",
        label="Default tier qualification window (months)",
        help_text=(
            "Orders of the last this many months count towards a tier, for new and default "
            "tiers. 12 is a rolling year; 0 counts every order ever (lifetime)."
        ),
        default="12",
        parse=lambda raw: parse_non_negative_int(raw, maximum=120),
    ),
    SettingField(
        name="tier_downgrade_grace_days",
        label="Grace days before a tier downgrade",
        help_text=(
            "Customers who no longer qualify for their tier keep it this many more days; "
            "an order that qualifies again in the meantime cancels the downgrade. "
            "0 downgrades at the next daily check."
        ),
        default="30",
        parse=lambda raw: parse_non_negative_int(raw, maximum=730),
    ),
    SettingField(
        name="reward_code_validity_days",
        label="Days a reward code stays valid",
        help_text=(
            "A code bought in the points mall expires this many days after it was issued "
            "(a reward may set its own). 1 to 3650."
        ),
        default="30",
        parse=lambda raw: _parse_positive_days(raw, maximum=3650),
    ),
    SettingField(
        name="refund_expired_reward_codes",
        label="Give points back for expired unused codes",
        help_text=(
            "When a points-mall code expires without being used, return its points to the "
            "customer. Applies to codes redeemed while this is on."
        ),
        default="true",
        parse=parse_bool,
        type=FieldType.BOOLEAN,
    ),
)


def _parse_positive_days(raw: str, *, maximum: int) -> int:
    value = parse_non_negative_int(raw, maximum=maximum)
    if value == 0:
        raise ValueError("Enter at least 1 day.")
    return value


SETTING_FIELDS: tuple[SettingField, ...] = LEDGER_FIELDS + MEMBERSHIP_FIELDS


@dataclass(frozen=True)
class LedgerSettings:
    points_per_currency_unit: Decimal = Decimal(1)
    credit_trigger: CreditTrigger = CreditTrigger.ORDER_FULLY_PAID
    pending_days: int = 0
    expiry_months: int = 0
    timezone: str = "UTC"
    overdraft_policy: OverdraftPolicy = OverdraftPolicy.ALLOW_NEGATIVE


@dataclass(frozen=True)
class MembershipSettings:
    tier_basis: TierBasis = TierBasis.POINTS_EARNED
    tier_window_months: int = 12
    tier_downgrade_grace_days: int = 30
    reward_code_validity_days: int = 30
    refund_expired_reward_codes: bool = True


@dataclass(frozen=True)
class ChannelSettings:
    """Everything the plugin needs to know about one channel, typed."""

    ledger: LedgerSettings = LedgerSettings()
    membership: MembershipSettings = MembershipSettings()

    @classmethod
    def from_configuration(
        cls, configuration: Iterable[Mapping[str, Any]] | Mapping[str, Any], *, strict: bool = True
    ) -> ChannelSettings:
        """Parse Saleor's ``[{"name", "value"}]`` list (or a plain name->value mapping).

        ``strict`` raises ``InvalidConfiguration`` listing every bad field; otherwise bad
        values fall back to their defaults (a row stored before validation existed must
        not break the shop).
        """
        raw = _as_mapping(configuration)
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for field in SETTING_FIELDS:
            text = raw.get(field.name)
            if text is None:
                text = field.default
            try:
                values[field.name] = field.parse(text)
            except ValueError as error:
                errors[field.name] = str(error)
                values[field.name] = field.parse(field.default)
        if errors and strict:
            raise InvalidConfiguration(errors)
        sections = typing.get_type_hints(cls)
        return cls(**{section.name: _build(sections[section.name], values) for section in dataclasses.fields(cls)})

    def as_configuration(self) -> dict[str, str]:
        """The raw name->value mapping that parses back to these settings (JSON-native)."""
        flat: dict[str, Any] = {}
        for section in dataclasses.fields(self):
            flat.update(dataclasses.asdict(getattr(self, section.name)))
        return {field.name: _format(flat[field.name]) for field in SETTING_FIELDS}


def default_configuration() -> list[dict[str, Any]]:
    # Saleor's dashboard renders Boolean fields from real booleans, everything else from text.
    return [
        {
            "name": field.name,
            "value": parse_bool(field.default) if field.type is FieldType.BOOLEAN else field.default,
        }
        for field in SETTING_FIELDS
    ]


def config_structure() -> dict[str, dict[str, str]]:
    return {
        field.name: {"type": field.type.value, "label": field.label, "help_text": field.help_text}
        for field in SETTING_FIELDS
    }


def _as_mapping(configuration: Iterable[Mapping[str, Any]] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(configuration, Mapping):
        return dict(configuration)
    return {item["name"]: item.get("value") for item in configuration}


def _build(section: type, values: Mapping[str, Any]) -> Any:
    names = {field.name for field in dataclasses.fields(section)}
    return section(**{name: value for name, value in values.items() if name in names})


def _format(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
