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
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .domain.contact_rules import FrequencyCap, QuietHours

# Declared in the domain (whose rules read it); importable from here as before.
from .domain.credit_trigger import CreditTrigger
from .domain.schedules import DiscountKind, Incentive, ReminderSeries

MAX_POINTS_PER_CURRENCY_UNIT = Decimal(1000)


class OverdraftPolicy(enum.StrEnum):
    """What happens when points to take back were already spent."""

    ALLOW_NEGATIVE = "allow_negative"  # the balance goes below zero; later earnings repay it
    CLAMP_TO_ZERO = "clamp_to_zero"  # take what is left, record the rest as written off


SECRET_FIELD_TYPES = frozenset({"Secret", "SecretMultiline", "Password"})


class InvalidConfiguration(ValueError):
    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.errors.items()))


class FieldType(enum.StrEnum):
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
        # str() first: a plain mapping (the sandbox, an API client) may hold 2 or 0.5.
        value = Decimal(str(raw).strip())
    except InvalidOperation:
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
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a directory of the tz database ("Asia") raises IsADirectoryError.
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
        help_text=(
            "IANA timezone of your shop, for example Asia/Shanghai. Expiry days end here; "
            "quiet hours use it when the customer's own timezone is unknown."
        ),
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


class DeliveryChannelName(enum.StrEnum):
    EMAIL = "email"  # Django's mail framework, SMTP server from the settings below
    NOTIFY = "notify"  # Saleor's NOTIFY_USER, for merchants who deliver through a Saleor app
    WEBHOOK = "webhook"  # JSON POST signed with HMAC-SHA256, for SMS or chat gateways


def delivery_channel_names() -> list[str]:
    """Built-in channels first, then those other apps registered with ``register_channel``."""
    from .delivery.base import CHANNELS

    names = [member.value for member in DeliveryChannelName]
    return names + sorted(set(CHANNELS) - set(names))


def parse_delivery_channel(raw: Any) -> str:
    # Only the form is checked here; whether a channel of that name is installed is a
    # ``DeliverySettings.problems`` check, so lenient parsing keeps a stored custom name
    # (and holds messages) instead of silently falling back to email.
    name = parse_text(raw)
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", name):
        raise ValueError(f"Choose one of: {', '.join(delivery_channel_names())}.")
    return name


def parse_text(raw: Any) -> str:
    return "" if raw is None else str(raw).strip()


def parse_port(raw: str) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ValueError("Enter a port number, for example 587 or 465.") from None
    if not 1 <= value <= 65535:
        raise ValueError("Enter a port number between 1 and 65535.")
    return value


def parse_optional_url(raw: Any) -> str:
    text = parse_text(raw)
    if text:
        _validate_http_url(text)
    return text.rstrip("/")


def parse_checkout_url_template(raw: Any) -> str:
    text = parse_text(raw)
    if not text:
        return ""
    if "{token}" not in text:
        raise ValueError(
            "Include {token} where the checkout token goes, "
            "for example https://shop.example/checkout?token={token}."
        )
    try:
        example = text.format(token="00000000-0000-0000-0000-000000000000")
    except (KeyError, IndexError, ValueError):
        raise ValueError(
            "Use only the {token} placeholder; write other braces as {{ and }}."
        ) from None
    _validate_http_url(example)
    return text


def parse_optional_email_address(raw: Any) -> str:
    """An address or ``Name <address>``; empty means Django's DEFAULT_FROM_EMAIL."""
    from email.utils import parseaddr

    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    text = parse_text(raw)
    if not text:
        return ""
    _, address = parseaddr(text)
    try:
        validate_email(address)
    except ValidationError:
        raise ValueError("Enter an email address, for example Shop <hello@shop.example>.") from None
    return text


def _validate_http_url(text: str) -> None:
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    try:
        URLValidator(schemes=["http", "https"])(text)
    except ValidationError:
        raise ValueError(
            f"Enter a full http:// or https:// address; {text!r} is not one."
        ) from None


DELIVERY_FIELDS: tuple[SettingField, ...] = (
    SettingField(
        name="delivery_channel",
        label="Send reminders by",
        help_text=(
            "email: the plugin sends email itself through the SMTP server below; "
            "notify: hand the message to a Saleor app as a NOTIFY_USER event; "
            "webhook: POST signed JSON to your SMS or chat gateway."
        ),
        default=DeliveryChannelName.EMAIL.value,
        parse=parse_delivery_channel,
    ),
    SettingField(
        name="smtp_host",
        label="SMTP server",
        help_text=(
            "Host name of your mail server. "
            "Leave empty to use the mail settings of your Saleor server."
        ),
        default="",
        parse=parse_text,
    ),
    SettingField(
        name="smtp_port",
        label="SMTP port",
        help_text="Usually 587 with STARTTLS, 465 with SSL, 25 without encryption.",
        default="587",
        parse=parse_port,
    ),
    SettingField(
        name="smtp_username",
        label="SMTP user name",
        help_text="Leave empty if your mail server needs no login.",
        default="",
        parse=parse_text,
    ),
    SettingField(
        name="smtp_password",
        label="SMTP password",
        help_text="Stored as a secret; the dashboard shows only its last characters.",
        default="",
        parse=parse_text,
        type=FieldType.SECRET,
    ),
    SettingField(
        name="smtp_use_tls",
        label="Use STARTTLS",
        help_text="Upgrade the connection with STARTTLS (port 587). Do not combine with SSL.",
        default="true",
        parse=parse_bool,
        type=FieldType.BOOLEAN,
    ),
    SettingField(
        name="smtp_use_ssl",
        label="Use SSL",
        help_text="Connect with SSL from the start (port 465). Do not combine with STARTTLS.",
        default="false",
        parse=parse_bool,
        type=FieldType.BOOLEAN,
    ),
    SettingField(
        name="from_email",
        label="Sender address",
        help_text=(
            "For example Shop <hello@shop.example>. "
            "Empty uses DEFAULT_FROM_EMAIL of your Saleor server."
        ),
        default="",
        parse=parse_optional_email_address,
    ),
    SettingField(
        name="reply_to",
        label="Reply-to address",
        help_text="Where customers' replies go. Leave empty to use the sender address.",
        default="",
        parse=parse_optional_email_address,
    ),
    SettingField(
        name="webhook_url",
        label="Webhook URL",
        help_text=(
            "With the webhook channel: the https:// address "
            "that receives each message as signed JSON."
        ),
        default="",
        parse=parse_optional_url,
    ),
    SettingField(
        name="webhook_secret",
        label="Webhook signing secret",
        help_text=(
            "Shared secret for the X-Retention-Signature header "
            "(sha256=HMAC-SHA256 of timestamp + '.' + body). At least 16 characters."
        ),
        default="",
        parse=parse_text,
        type=FieldType.SECRET,
    ),
    SettingField(
        name="checkout_url_template",
        label="Storefront checkout link",
        help_text=(
            "Link back to the cart in your storefront, with {token} where the checkout token goes, "
            "for example https://shop.example/checkout?token={token}."
        ),
        default="",
        parse=parse_checkout_url_template,
    ),
    SettingField(
        name="public_api_url",
        label="Public address of your Saleor API",
        help_text=(
            "For unsubscribe links, for example https://api.shop.example. "
            "Empty uses the PUBLIC_URL setting of your Saleor server."
        ),
        default="",
        parse=parse_optional_url,
    ),
)


def parse_clock_time(raw: Any) -> time:
    text = str(raw).strip()
    try:
        moment = time.fromisoformat(text)
    except ValueError:
        moment = None
    # Hours and minutes only: seconds or a zone would be kept but never shown or saved back.
    if moment is None or moment.second or moment.microsecond or moment.tzinfo:
        raise ValueError("Enter a time of day as HH:MM, for example 21:00.")
    return moment


def parse_hours_list(raw: Any) -> tuple[Decimal, ...]:
    """``"1, 24, 72"`` -> the delays of the reminder steps, in hours after the last activity."""
    parts = [part.strip() for part in str(raw).replace(";", ",").split(",") if part.strip()]
    if not parts:
        raise ValueError("Enter at least one delay in hours, for example 1, 24, 72.")
    if len(parts) > MAX_REMINDER_STEPS:
        raise ValueError(f"Enter at most {MAX_REMINDER_STEPS} steps.")
    try:
        hours = tuple(Decimal(part) for part in parts)
    except InvalidOperation:
        raise ValueError(
            "Enter hours as numbers separated by commas, for example 1, 24, 72."
        ) from None
    if any(not hour.is_finite() or hour <= 0 or hour > MAX_REMINDER_DELAY_HOURS for hour in hours):
        raise ValueError(f"Each delay is more than 0 and at most {MAX_REMINDER_DELAY_HOURS} hours.")
    if list(hours) != sorted(set(hours)):
        raise ValueError("Each step must come later than the one before, for example 1, 24, 72.")
    return hours


def parse_discount(raw: Any) -> str:
    """``"10%"`` (a percentage off) or ``"5"`` (a fixed amount in the channel's currency)."""
    text = str(raw).strip().replace(" ", "")
    is_percentage = text.endswith("%")
    try:
        value = Decimal(text.rstrip("%"))
    except InvalidOperation:
        raise ValueError("Enter a discount such as 10% or a fixed amount such as 5.") from None
    if not value.is_finite() or value <= 0:
        raise ValueError("Enter a discount greater than zero.")
    if is_percentage and value > 100:
        raise ValueError("A percentage discount is at most 100%.")
    return f"{value.normalize():f}%" if is_percentage else f"{value.normalize():f}"


def parse_percent(raw: Any) -> Decimal:
    try:
        value = Decimal(str(raw).strip().rstrip("%"))
    except InvalidOperation:
        raise ValueError("Enter a percentage, for example 10.") from None
    if not value.is_finite() or not 0 <= value <= MAX_HOLDOUT_PERCENT:
        raise ValueError(f"Enter a percentage between 0 and {MAX_HOLDOUT_PERCENT}.")
    return value


MAX_REMINDER_STEPS = 5
MAX_REMINDER_DELAY_HOURS = 24 * 30
MAX_HOLDOUT_PERCENT = 50

REMINDER_FIELDS: tuple[SettingField, ...] = (
    SettingField(
        name="cart_reminders_enabled",
        label="Send abandoned-cart reminders",
        help_text=(
            "Carts are tracked either way; reminders go out only when this is on. "
            "Set up the delivery settings first."
        ),
        default="false",
        parse=parse_bool,
        type=FieldType.BOOLEAN,
    ),
    SettingField(
        name="cart_abandoned_after_minutes",
        label="Cart counts as abandoned after (minutes)",
        help_text=(
            "Minutes without any change to the cart before it counts as abandoned, "
            "if it has items and an email address or a signed-in customer."
        ),
        default="60",
        parse=lambda raw: _at_least_one(parse_non_negative_int(raw, maximum=7 * 24 * 60)),
    ),
    SettingField(
        name="cart_reminder_delays_hours",
        label="Reminder times (hours after the last change)",
        help_text=(
            "One number per reminder, hours after the customer last changed the cart, "
            "for example 1, 24, 72 for three reminders. A change restarts the clock; "
            "a reminder already sent is not sent again."
        ),
        default="1, 24, 72",
        parse=parse_hours_list,
    ),
    SettingField(
        name="cart_incentive_step",
        label="Reminder that carries a coupon",
        help_text=(
            "Number of the reminder (1, 2, 3...) that includes a single-use coupon. "
            "0 sends no coupon."
        ),
        default="2",
        parse=lambda raw: parse_non_negative_int(raw, maximum=MAX_REMINDER_STEPS),
    ),
    SettingField(
        name="cart_incentive_discount",
        label="Coupon discount",
        help_text=(
            "10% for a percentage off the order, or 5 for a fixed amount in the "
            "channel's currency. The coupon is a single-use Saleor voucher code."
        ),
        default="10%",
        parse=parse_discount,
    ),
    SettingField(
        name="cart_incentive_valid_days",
        label="Coupon valid for (days)",
        help_text="Days the coupon can be used after the reminder is sent.",
        default="7",
        parse=lambda raw: _at_least_one(parse_non_negative_int(raw, maximum=365)),
    ),
    SettingField(
        name="frequency_cap_hours",
        label="At most one marketing message per (hours)",
        help_text=(
            "A customer gets at most one message from this plugin in this many hours, "
            "across all reminders and campaigns; later ones wait. 0 turns the cap off."
        ),
        default="16",
        parse=lambda raw: parse_non_negative_int(raw, maximum=24 * 14),
    ),
    SettingField(
        name="cart_reminders_bypass_cap",
        label="Cart reminders ignore the frequency cap",
        help_text="Let cart reminders go out even if the customer got another message recently.",
        default="false",
        parse=parse_bool,
        type=FieldType.BOOLEAN,
    ),
    SettingField(
        name="quiet_hours_start",
        label="Quiet hours start",
        help_text=(
            "No messages from this time (customer's local time, HH:MM); they wait until the "
            "quiet hours end. Same start and end turns quiet hours off."
        ),
        default="21:00",
        parse=parse_clock_time,
    ),
    SettingField(
        name="quiet_hours_end",
        label="Quiet hours end",
        help_text="Messages held back during quiet hours go out from this time (HH:MM).",
        default="08:00",
        parse=parse_clock_time,
    ),
    SettingField(
        name="cart_holdout_percent",
        label="Holdout group (% of carts)",
        help_text=(
            "This share of abandoned carts, picked at random but fixed per cart, gets no "
            "reminders, so you can see how much the reminders really recover. 0 turns it off."
        ),
        default="10",
        parse=parse_percent,
    ),
    SettingField(
        name="attribution_window_days",
        label="Credit a reminder for orders within (days)",
        help_text=(
            "An order placed this many days after a reminder, by the same customer, counts "
            "as recovered by that reminder even if it came from another cart."
        ),
        default="7",
        parse=lambda raw: parse_non_negative_int(raw, maximum=90),
    ),
)


def _at_least_one(value: int) -> int:
    if value < 1:
        raise ValueError("Enter a whole number of at least 1.")
    return value


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


SETTING_FIELDS: tuple[SettingField, ...] = (
    LEDGER_FIELDS + MEMBERSHIP_FIELDS + DELIVERY_FIELDS + REMINDER_FIELDS
)


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


@dataclass(frozen=True)
class ReminderSettings:
    cart_reminders_enabled: bool = False
    cart_abandoned_after_minutes: int = 60
    cart_reminder_delays_hours: tuple[Decimal, ...] = (Decimal(1), Decimal(24), Decimal(72))
    cart_incentive_step: int = 2
    cart_incentive_discount: str = "10%"
    cart_incentive_valid_days: int = 7
    frequency_cap_hours: int = 16
    cart_reminders_bypass_cap: bool = False
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)
    cart_holdout_percent: Decimal = Decimal(10)
    attribution_window_days: int = 7

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
    def attribution_window(self) -> timedelta:
        return timedelta(days=self.attribution_window_days)

    @property
    def incentive(self) -> Incentive | None:
        if not self.cart_incentive_step:
            return None
        text = self.cart_incentive_discount
        kind = DiscountKind.PERCENTAGE if text.endswith("%") else DiscountKind.FIXED
        return Incentive(kind, Decimal(text.rstrip("%")), valid_days=self.cart_incentive_valid_days)

    @property
    def series(self) -> ReminderSeries:
        return ReminderSeries.from_delays(
            tuple(timedelta(hours=float(hours)) for hours in self.cart_reminder_delays_hours),
            incentive_step=self.cart_incentive_step or None,
            incentive=self.incentive,
        )

    @property
    def quiet_hours(self) -> QuietHours:
        return QuietHours(self.quiet_hours_start, self.quiet_hours_end)

    @property
    def frequency_cap(self) -> FrequencyCap:
        return FrequencyCap(timedelta(hours=self.frequency_cap_hours))


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
    reminders: ReminderSettings = ReminderSettings()
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
        return errors

    def as_configuration(self) -> dict[str, str]:
        """The raw name->value mapping that parses back to these settings (JSON-native)."""
        flat: dict[str, Any] = {}
        for section in dataclasses.fields(self):
            flat.update(dataclasses.asdict(getattr(self, section.name)))
        return {field.name: _format(flat[field.name]) for field in SETTING_FIELDS}

    def as_task_configuration(self) -> dict[str, str]:
        """``as_configuration`` without secrets: what may travel in Celery task arguments.

        Brokers, result backends and monitoring tools keep task arguments. Work that needs a
        secret, such as sending, loads the channel's settings in the worker instead.
        """
        secret = {field.name for field in SETTING_FIELDS if field.type in SECRET_FIELD_TYPES}
        return {
            name: value for name, value in self.as_configuration().items() if name not in secret
        }


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
    if isinstance(value, tuple):
        return ", ".join(_format(item) for item in value)
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
