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


class DeliveryChannelName(enum.StrEnum):
    EMAIL = "email"  # Django's mail framework, SMTP server from the settings below
    NOTIFY = "notify"  # Saleor's NOTIFY_USER, for merchants who deliver through a Saleor app
    WEBHOOK = "webhook"  # JSON POST signed with HMAC-SHA256, for SMS or chat gateways


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
        parse=parse_choice(DeliveryChannelName),
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

SETTING_FIELDS: tuple[SettingField, ...] = LEDGER_FIELDS + DELIVERY_FIELDS


@dataclass(frozen=True)
class LedgerSettings:
    points_per_currency_unit: Decimal = Decimal(1)
    credit_trigger: CreditTrigger = CreditTrigger.ORDER_FULLY_PAID
    pending_days: int = 0
    expiry_months: int = 0
    timezone: str = "UTC"
    overdraft_policy: OverdraftPolicy = OverdraftPolicy.ALLOW_NEGATIVE


MIN_WEBHOOK_SECRET_LENGTH = 16


@dataclass(frozen=True)
class DeliverySettings:
    delivery_channel: DeliveryChannelName = DeliveryChannelName.EMAIL
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
        if self.smtp_use_tls and self.smtp_use_ssl:
            errors["smtp_use_ssl"] = "Choose STARTTLS or SSL, not both."
        if self.delivery_channel is DeliveryChannelName.WEBHOOK:
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
class ChannelSettings:
    """Everything the plugin needs to know about one channel, typed."""

    ledger: LedgerSettings = LedgerSettings()
    delivery: DeliverySettings = DeliverySettings()

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
        if errors and strict:
            raise InvalidConfiguration(errors)
        return cls(**built)

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
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
