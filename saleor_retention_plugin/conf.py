"""Per-channel settings of the plugin, declared once and parsed once.

Saleor stores a plugin's configuration as a list of ``{"name", "value"}`` dicts with
string values (its dashboard has no number or choice fields). Every setting is
declared a single time (``config_fields.py``, parsed by ``config_values.py``), with the
label and help text the merchant sees; the
Saleor ``CONFIG_STRUCTURE`` / ``DEFAULT_CONFIGURATION`` and the typed, frozen
``ChannelSettings`` are all derived from these declarations, so the three can never
disagree. Bad values become per-field messages (``InvalidConfiguration.errors``)
that the plugin turns into dashboard field errors.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from decimal import Decimal
from typing import Any

from .config_care import CARE_FIELDS, CareSettings
from .config_fields import (
    DELIVERY_FIELDS,
    LEDGER_FIELDS,
    LIFECYCLE_FIELDS,
    MEMBERSHIP_FIELDS,
    MESSAGING_FIELDS,
    REMINDER_FIELDS,
    SECRET_FIELD_TYPES,
    DeliveryChannelName,
    FieldType,
    OverdraftPolicy,
    SettingField,
    TierBasis,
    delivery_channel_names,
    parse_delivery_channel,
)
from .config_fields import SETTING_FIELDS as CORE_FIELDS
from .config_lifecycle import (
    REORDER_FIELDS,
    RecommendationSettings,
    ReplenishmentSettings,
    WinbackSettings,
)
from .config_values import (
    MAX_HOLDOUT_PERCENT,
    MAX_POINTS_PER_CURRENCY_UNIT,
    MAX_REMINDER_DELAY_HOURS,
    MAX_REMINDER_STEPS,
    parse_bool,
    parse_checkout_url_template,
    parse_choice,
    parse_clock_time,
    parse_decimal_rate,
    parse_discount,
    parse_hours_list,
    parse_non_negative_int,
    parse_optional_email_address,
    parse_optional_url,
    parse_percent,
    parse_port,
    parse_text,
    parse_timezone,
)
from .config_variants import (
    VARIANT_FIELDS,
    VariantSettings,
    stray_incentives,
    variant_problems,
)
from .domain.contact_rules import FrequencyCap, QuietHours

# Declared in the domain (whose rules read it); importable from here as before.
from .domain.credit_trigger import CreditTrigger
from .domain.schedules import DiscountKind, Incentive, ReminderSeries

# Every setting of a channel. Post-purchase care and birthdays are declared in config_care,
# replenishment, win-back and recommendations in config_lifecycle, every flow's variant B
# in config_variants (all build on config_fields, so they cannot be part of its own tuple).
SETTING_FIELDS: tuple[SettingField, ...] = (
    CORE_FIELDS + CARE_FIELDS + REORDER_FIELDS + VARIANT_FIELDS
)


class InvalidConfiguration(ValueError):
    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.errors.items()))


@dataclass(frozen=True)
class LedgerSettings:
    points_per_currency_unit: Decimal = Decimal(1)
    credit_trigger: CreditTrigger = CreditTrigger.ORDER_FULLY_PAID
    pending_days: int = 0
    expiry_months: int = 0
    timezone: str = "UTC"
    overdraft_policy: OverdraftPolicy = OverdraftPolicy.ALLOW_NEGATIVE

    def problems(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        # The shortest month is 28 days: points must be spendable before they can expire.
        if self.expiry_months and self.pending_days >= self.expiry_months * 28:
            errors["pending_days"] = (
                f"Points would expire before they can be spent: make the pending period "
                f"shorter than {self.expiry_months * 28} days or the expiry longer."
            )
        return errors


MIN_WEBHOOK_SECRET_LENGTH = 16


@dataclass(frozen=True)
class DeliverySettings:
    # A DeliveryChannelName value, or the name of a channel another app registered.
    delivery_channel: str = DeliveryChannelName.EMAIL.value
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_use_tls: bool = True
    smtp_use_ssl: bool = False
    from_email: str = ""
    reply_to: str = ""
    webhook_url: str = ""
    webhook_secret: str = ""
    checkout_url_template: str = ""
    public_api_url: str = ""

    def problems(self) -> dict[str, str]:
        """Errors that depend on more than one field, keyed by the field to fix."""
        errors: dict[str, str] = {}
        if self.delivery_channel not in delivery_channel_names():
            errors["delivery_channel"] = f"Choose one of: {', '.join(delivery_channel_names())}."
        if self.smtp_use_tls and self.smtp_use_ssl:
            errors["smtp_use_ssl"] = "Choose STARTTLS or SSL, not both."
        if self.delivery_channel == DeliveryChannelName.WEBHOOK:
            if not self.webhook_url:
                errors["webhook_url"] = "Enter the address that receives the webhook."
            if len(self.webhook_secret) < MIN_WEBHOOK_SECRET_LENGTH:
                errors["webhook_secret"] = (
                    f"Enter a signing secret of at least {MIN_WEBHOOK_SECRET_LENGTH} characters."
                )
        if self.smtp_password and not self.smtp_username:
            errors["smtp_username"] = "Enter the user name that goes with the SMTP password."
        return errors

    def checkout_url(self, token: str) -> str | None:
        if not self.checkout_url_template:
            return None
        return self.checkout_url_template.format(token=token)


def incentive_from_text(text: str, valid_days: int) -> Incentive:
    """A parsed discount setting (``"10%"`` or ``"5"``) as a coupon to mint."""
    kind = DiscountKind.PERCENTAGE if text.endswith("%") else DiscountKind.FIXED
    return Incentive(kind, Decimal(text.rstrip("%")), valid_days=valid_days)


@dataclass(frozen=True)
class MessagingSettings:
    """Shared by every flow and campaign (cart reminders, welcome, win-back...).

    ``frequency_cap``: at most one marketing message per recipient in this window;
    ``quiet_hours``: local clock times when nothing is sent; ``holdout_percent``: the
    default share of each flow's subjects that gets nothing (0-50); ``attribution_window``:
    how long after a message (or, in the holdout, after when it would have gone out) an
    order counts for it. ``holdout_percent`` was stored as ``cart_holdout_percent`` before.
    """

    frequency_cap_hours: int = 16
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)
    holdout_percent: Decimal = Decimal(10)
    attribution_window_days: int = 7

    @property
    def attribution_window(self) -> timedelta:
        return timedelta(days=self.attribution_window_days)

    @property
    def quiet_hours(self) -> QuietHours:
        return QuietHours(self.quiet_hours_start, self.quiet_hours_end)

    @property
    def frequency_cap(self) -> FrequencyCap:
        return FrequencyCap(timedelta(hours=self.frequency_cap_hours))


@dataclass(frozen=True)
class ReminderSettings:
    """The cart series' own settings; cap, quiet hours, holdout are ``MessagingSettings``."""

    cart_reminders_enabled: bool = False
    cart_abandoned_after_minutes: int = 60
    cart_reminder_delays_hours: tuple[Decimal, ...] = (Decimal(1), Decimal(24), Decimal(72))
    cart_incentive_step: int = 2
    cart_incentive_discount: str = "10%"
    cart_incentive_valid_days: int = 7
    cart_reminders_bypass_cap: bool = False

    def problems(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        if self.cart_incentive_step > len(self.cart_reminder_delays_hours):
            errors["cart_incentive_step"] = (
                f"There are only {len(self.cart_reminder_delays_hours)} reminders; "
                "choose one of them or 0 for no coupon."
            )
        return errors

    @property
    def abandonment_threshold(self) -> timedelta:
        return timedelta(minutes=self.cart_abandoned_after_minutes)

    @property
    def incentive(self) -> Incentive | None:
        if not self.cart_incentive_step:
            return None
        return incentive_from_text(self.cart_incentive_discount, self.cart_incentive_valid_days)

    @property
    def series(self) -> ReminderSeries:
        return ReminderSeries.from_delays(
            tuple(timedelta(hours=float(hours)) for hours in self.cart_reminder_delays_hours),
            incentive_step=self.cart_incentive_step or None,
            incentive=self.incentive,
        )


@dataclass(frozen=True)
class LifecycleSettings:
    """The event-started flows: welcome, points expiring, tier upgrade (docs/flows.md)."""

    welcome_enabled: bool = False
    welcome_delay_hours: int = 2
    welcome_coupon_discount: str = ""
    welcome_coupon_valid_days: int = 30
    points_expiring_enabled: bool = False
    points_expiring_days_ahead: tuple[int, ...] = (30, 7)
    tier_upgrade_enabled: bool = False
    campaigns_enabled: bool = False

    @property
    def welcome_delay(self) -> timedelta:
        return timedelta(hours=self.welcome_delay_hours)

    @property
    def welcome_incentive(self) -> Incentive | None:
        if not self.welcome_coupon_discount:
            return None
        return incentive_from_text(self.welcome_coupon_discount, self.welcome_coupon_valid_days)


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
    delivery: DeliverySettings = DeliverySettings()
    messaging: MessagingSettings = MessagingSettings()
    reminders: ReminderSettings = ReminderSettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    membership: MembershipSettings = MembershipSettings()
    # Declared in another module: a factory, as ruff cannot see that it is frozen.
    care: CareSettings = dataclasses.field(default_factory=CareSettings)
    # Frozen dataclasses (config_lifecycle), immutable defaults.
    replenishment: ReplenishmentSettings = ReplenishmentSettings()  # noqa: RUF009
    winback: WinbackSettings = WinbackSettings()  # noqa: RUF009
    recommendations: RecommendationSettings = RecommendationSettings()  # noqa: RUF009
    variants: VariantSettings = dataclasses.field(default_factory=VariantSettings)

    @classmethod
    def from_configuration(
        cls, configuration: Iterable[Mapping[str, Any]] | Mapping[str, Any], *, strict: bool = True
    ) -> ChannelSettings:
        """Parse Saleor's ``[{"name", "value"}]`` list (or a plain name->value mapping).

        ``strict`` raises ``InvalidConfiguration`` listing every bad field; otherwise bad
        values fall back to their defaults (a row stored before validation existed must
        not break the shop).

        The same values parse once per process: Saleor builds the plugin (and so parses
        its configuration) for every request and task, and every order task gets the
        configuration again. Settings are frozen, so the parsed object is shared.
        """
        raw = _as_mapping(configuration)
        if cls is not ChannelSettings:
            return cls._parse(raw, strict=strict)
        try:
            # Canonical JSON: True and 1 are equal dict keys but not the same setting.
            key = json.dumps(raw, sort_keys=True)
        except (TypeError, ValueError):  # not plain JSON: parse it every time
            return cls._parse(raw, strict=strict)
        return _parse_once(key, strict)

    @classmethod
    def _parse(cls, raw: Mapping[str, Any], *, strict: bool) -> ChannelSettings:
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for field in SETTING_FIELDS:
            text = raw.get(field.name)
            for alias in field.aliases:
                if text is None:
                    text = raw.get(alias)
            if text is None:
                text = field.default
            try:
                values[field.name] = field.parse(text)
            except ValueError as error:
                errors[field.name] = str(error)
                values[field.name] = field.parse(field.default)
        for name, message in stray_incentives(raw).items():
            errors.setdefault(name, message)
        sections = typing.get_type_hints(cls)
        built = {
            section.name: _build(sections[section.name], values)
            for section in dataclasses.fields(cls)
        }
        for section_settings in built.values():
            # A section may check rules that span several of its fields.
            problems = getattr(section_settings, "problems", None)
            if problems is not None:
                for name, message in problems().items():
                    errors.setdefault(name, message)
        settings = cls(**built)
        for name, message in settings.problems().items():
            errors.setdefault(name, message)
        if errors and strict:
            raise InvalidConfiguration(errors)
        return settings

    def problems(self) -> dict[str, str]:
        """Rules that span sections, keyed by the field to fix."""
        errors: dict[str, str] = {}
        if self.reminders.cart_reminders_enabled and not self.delivery.checkout_url_template:
            errors["checkout_url_template"] = (
                "Cart reminders link back to the cart: enter your storefront's checkout link "
                "with {token}, for example https://shop.example/checkout?token={token}."
            )
        errors.update(variant_problems(self))
        return errors

    def as_configuration(self) -> dict[str, str]:
        """The raw name->value mapping that parses back to these settings (JSON-native)."""
        flat: dict[str, Any] = {}
        for section in dataclasses.fields(self):
            values = getattr(self, section.name)
            as_values = getattr(values, "as_values", None)
            flat.update(as_values() if as_values is not None else dataclasses.asdict(values))
        return {field.name: _format(flat[field.name]) for field in SETTING_FIELDS}

    def as_task_configuration(self) -> dict[str, str]:
        """``as_configuration`` without secrets: what may travel in Celery task arguments.

        Brokers, result backends and monitoring tools keep task arguments. Work that needs a
        secret, such as sending, loads the channel's settings in the worker instead.
        """
        # Computed once per (frozen) settings object: every order hook sends it. Variant
        # fields left at their defaults stay out (they parse back to the same), so the
        # dozens of flow variant fields cost a task nothing until a merchant sets one.
        kept: dict[str, str] | None = self.__dict__.get("_task_configuration")
        if kept is None:
            kept = {
                name: value
                for name, value in self.as_configuration().items()
                if name not in _SECRET_NAMES and _VARIANT_DEFAULTS.get(name) != value
            }
            object.__setattr__(self, "_task_configuration", kept)
        return dict(kept)


_RENAMED = {alias: field.name for field in SETTING_FIELDS for alias in field.aliases}
_SECRET_NAMES = frozenset(
    field.name for field in SETTING_FIELDS if field.type in SECRET_FIELD_TYPES
)
_VARIANT_DEFAULTS = {field.name: field.default for field in VARIANT_FIELDS}


@functools.lru_cache(maxsize=64)
def _parse_once(canonical: str, strict: bool) -> ChannelSettings:
    # An invalid configuration raises under ``strict`` and is not cached.
    return ChannelSettings._parse(json.loads(canonical), strict=strict)


def validate_configuration(
    configuration: Iterable[Mapping[str, Any]] | Mapping[str, Any],
) -> ChannelSettings:
    """The dashboard's check of a configuration about to be saved (``pluginUpdate``).

    Returns the parsed settings; raises Django's ``ValidationError`` with one error
    (code ``invalid``) per bad field, which Saleor shows under that field and which
    keeps the configuration from being stored.
    """
    from django.core.exceptions import ValidationError

    try:
        return ChannelSettings.from_configuration(configuration, strict=True)
    except InvalidConfiguration as error:
        raise ValidationError(
            {
                name: ValidationError(message, code="invalid")
                for name, message in error.errors.items()
            }
        ) from None


def default_configuration() -> list[dict[str, Any]]:
    # Saleor's dashboard renders Boolean fields from real booleans, everything else from text.
    return [
        {
            "name": field.name,
            "value": parse_bool(field.default)
            if field.type is FieldType.BOOLEAN
            else field.default,
        }
        for field in SETTING_FIELDS
    ]


def with_current_names(configuration: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A stored ``[{"name", "value"}]`` list with old setting names renamed to today's.

    For Saleor, which drops stored keys its structure no longer lists before the plugin
    parses them. An old name is dropped when the new one is stored too (the new one wins).
    """
    renamed = _RENAMED
    items = [dict(item) for item in configuration]
    present = {item.get("name") for item in items}
    current = []
    for item in items:
        new_name = renamed.get(item.get("name", ""))
        if new_name is None:
            current.append(item)
        elif new_name not in present:
            current.append({**item, "name": new_name})
            present.add(new_name)
    return current


def config_structure() -> dict[str, dict[str, str]]:
    return {
        field.name: {"type": field.type.value, "label": field.label, "help_text": field.help_text}
        for field in SETTING_FIELDS
    }


def stored_settings(
    configuration: Iterable[Mapping[str, Any]] | Mapping[str, Any],
) -> ChannelSettings:
    """A stored configuration's settings, leniently: bad values fall back to defaults.

    ``ChannelSettings.from_configuration(configuration, strict=False)``, for what arrives
    with every task and plugin instance; parsed once per distinct configuration (the 64
    most recent are kept) and shared, as the settings are frozen.
    """
    return ChannelSettings.from_configuration(configuration, strict=False)


def _as_mapping(configuration: Iterable[Mapping[str, Any]] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(configuration, Mapping):
        return dict(configuration)
    return {item["name"]: item.get("value") for item in configuration}


def _build(section: type, values: Mapping[str, Any]) -> Any:
    from_values = getattr(section, "from_values", None)
    if from_values is not None:  # a section whose fields are not its attributes
        return from_values(values)
    names = {field.name for field in dataclasses.fields(section)}
    return section(**{name: value for name, value in values.items() if name in names})


def _format(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(_format(item) for item in value)
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# The settings API, including what moved to config_fields / config_values (importable
# from here as before).
__all__ = [
    "CARE_FIELDS",
    "DELIVERY_FIELDS",
    "LEDGER_FIELDS",
    "LIFECYCLE_FIELDS",
    "MAX_HOLDOUT_PERCENT",
    "MAX_POINTS_PER_CURRENCY_UNIT",
    "MAX_REMINDER_DELAY_HOURS",
    "MAX_REMINDER_STEPS",
    "MEMBERSHIP_FIELDS",
    "MESSAGING_FIELDS",
    "MIN_WEBHOOK_SECRET_LENGTH",
    "REMINDER_FIELDS",
    "SECRET_FIELD_TYPES",
    "SETTING_FIELDS",
    "CareSettings",
    "ChannelSettings",
    "CreditTrigger",
    "DeliveryChannelName",
    "DeliverySettings",
    "FieldType",
    "InvalidConfiguration",
    "LedgerSettings",
    "LifecycleSettings",
    "MembershipSettings",
    "MessagingSettings",
    "OverdraftPolicy",
    "ReminderSettings",
    "SettingField",
    "TierBasis",
    "VariantSettings",
    "config_structure",
    "default_configuration",
    "delivery_channel_names",
    "parse_bool",
    "parse_checkout_url_template",
    "parse_choice",
    "parse_clock_time",
    "parse_decimal_rate",
    "parse_delivery_channel",
    "parse_discount",
    "parse_hours_list",
    "parse_non_negative_int",
    "parse_optional_email_address",
    "parse_optional_url",
    "parse_percent",
    "parse_port",
    "parse_text",
    "parse_timezone",
    "validate_configuration",
    "with_current_names",
]
