"""Every per-channel setting, declared once: name, label, help text, default and parser.

``conf.py`` derives Saleor's ``CONFIG_STRUCTURE`` / ``DEFAULT_CONFIGURATION`` and the typed
``ChannelSettings`` from ``SETTING_FIELDS``; the parsers are in ``config_values.py``. The
enums of choice settings live here beside the fields that offer them, and are importable
from ``conf`` as before.
"""

from __future__ import annotations

import enum
import re
import typing
from dataclasses import dataclass
from typing import Any

from .config_values import (
    MAX_REMINDER_STEPS,
    _at_least_one,
    _parse_positive_days,
    parse_bool,
    parse_checkout_url_template,
    parse_choice,
    parse_clock_time,
    parse_days_ahead,
    parse_decimal_rate,
    parse_discount,
    parse_hours_list,
    parse_non_negative_int,
    parse_optional_discount,
    parse_optional_email_address,
    parse_optional_url,
    parse_percent,
    parse_port,
    parse_text,
    parse_timezone,
)
from .domain.credit_trigger import CreditTrigger

if typing.TYPE_CHECKING:
    from collections.abc import Callable


class OverdraftPolicy(enum.StrEnum):
    """What happens when points to take back were already spent."""

    ALLOW_NEGATIVE = "allow_negative"  # the balance goes below zero; later earnings repay it
    CLAMP_TO_ZERO = "clamp_to_zero"  # take what is left, record the rest as written off


SECRET_FIELD_TYPES = frozenset({"Secret", "SecretMultiline", "Password"})


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
    # Names this setting was stored under by earlier releases: a merchant's saved
    # configuration keeps working (the new name wins when both are present).
    aliases: tuple[str, ...] = ()


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
        name="cart_reminders_bypass_cap",
        label="Cart reminders ignore the frequency cap",
        help_text="Let cart reminders go out even if the customer got another message recently.",
        default="false",
        parse=parse_bool,
        type=FieldType.BOOLEAN,
    ),
)


# Shared by every flow and campaign: how often, when, and how results are measured.
MESSAGING_FIELDS: tuple[SettingField, ...] = (
    SettingField(
        name="frequency_cap_hours",
        label="At most one marketing message per (hours)",
        help_text=(
            "A customer gets at most one message from this plugin in this many hours, "
            "across all flows and campaigns; later ones wait. 0 turns the cap off."
        ),
        default="16",
        parse=lambda raw: parse_non_negative_int(raw, maximum=24 * 14),
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
        name="holdout_percent",
        label="Holdout group (% of each flow's customers)",
        help_text=(
            "This share of each flow's customers (abandoned carts, welcome, points expiring...), "
            "picked at random but fixed per customer or cart, gets no messages from that flow, "
            "so you can see how much the messages really bring. 0 turns it off."
        ),
        default="10",
        parse=parse_percent,
        aliases=("cart_holdout_percent",),
    ),
    SettingField(
        name="attribution_window_days",
        label="Credit a message for orders within (days)",
        help_text=(
            "An order placed this many days after a message, by the same customer, counts "
            "for that message (a cart reminder: even if the order came from another cart)."
        ),
        default="7",
        parse=lambda raw: parse_non_negative_int(raw, maximum=90),
    ),
)


# The lifecycle flows started by events (docs/flows.md); each is off until switched on.
LIFECYCLE_FIELDS: tuple[SettingField, ...] = (
    SettingField(
        name="welcome_enabled",
        label="Send a welcome after a customer's first order",
        help_text=(
            "A thank-you with a short guide to the programme, the customer's points and tier, "
            "and the optional coupon below."
        ),
        default="false",
        parse=parse_bool,
        type=FieldType.BOOLEAN,
    ),
    SettingField(
        name="welcome_delay_hours",
        label="Welcome sent after the first order (hours)",
        help_text="Hours after the first order is placed; 0 sends it at the next sweep.",
        default="2",
        parse=lambda raw: parse_non_negative_int(raw, maximum=24 * 30),
    ),
    SettingField(
        name="welcome_coupon_discount",
        label="Welcome coupon for the next order",
        help_text=(
            "Empty for none; 10% for a percentage off, or 5 for a fixed amount in the "
            "channel's currency. A single-use Saleor voucher code."
        ),
        default="",
        parse=parse_optional_discount,
    ),
    SettingField(
        name="welcome_coupon_valid_days",
        label="Welcome coupon valid for (days)",
        help_text="Days the welcome coupon can be used after the welcome is sent.",
        default="30",
        parse=lambda raw: _at_least_one(parse_non_negative_int(raw, maximum=365)),
    ),
    SettingField(
        name="points_expiring_enabled",
        label="Warn customers before their points expire",
        help_text="Needs points that expire (Months before points expire above 0).",
        default="false",
        parse=parse_bool,
        type=FieldType.BOOLEAN,
    ),
    SettingField(
        name="points_expiring_days_ahead",
        label="Warnings before points expire (days)",
        help_text="One number per warning, days before the points expire, for example 30, 7.",
        default="30, 7",
        parse=parse_days_ahead,
    ),
    SettingField(
        name="tier_upgrade_enabled",
        label="Congratulate customers on a tier upgrade",
        help_text="A message when a customer reaches a higher tier, naming the new tier.",
        default="false",
        parse=parse_bool,
        type=FieldType.BOOLEAN,
    ),
    SettingField(
        name="campaigns_enabled",
        label="Send staff campaigns",
        help_text="Staff may schedule one-off messages to a customer segment (docs/campaigns.md).",
        default="false",
        parse=parse_bool,
        type=FieldType.BOOLEAN,
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


SETTING_FIELDS: tuple[SettingField, ...] = (
    LEDGER_FIELDS
    + MEMBERSHIP_FIELDS
    + DELIVERY_FIELDS
    + MESSAGING_FIELDS
    + REMINDER_FIELDS
    + LIFECYCLE_FIELDS
)
