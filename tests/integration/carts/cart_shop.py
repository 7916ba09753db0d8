"""A stand-in for the shop around the flow engine: carts and channel settings.

Inside Saleor the engine reads checkouts and plugin configuration from Saleor's tables;
here a test (or a real worker started by a test) puts plain values in. Mail goes through
the real delivery package (4b's ``send_message``) into Django's mail backend.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.domain.carts import CartContents, CartLine, PlacedOrder
from saleor_retention_plugin.models import FlowEnrolment, FlowMessage
from saleor_retention_plugin.services import cart_reminders, flows, scan_gates
from saleor_retention_plugin.services.carts import stored_cart_contents

CHANNEL = "tea-cn"
CONFIGURATION_ENV = "RETENTION_TEST_CHANNEL_CONFIGURATION"

BASE_CONFIGURATION: dict[str, Any] = {
    "cart_reminders_enabled": "true",
    "cart_holdout_percent": "0",
    "quiet_hours_start": "00:00",
    "quiet_hours_end": "00:00",
    "frequency_cap_hours": "0",
    "delivery_channel": "email",
    "from_email": "Tea Shop <hello@tea.example>",
    "public_api_url": "https://api.tea.example",
    "checkout_url_template": "https://tea.example/checkout?token={token}",
}

# token -> contents (None: the checkout was deleted). Unknown tokens fall back to the
# snapshot the engine stored, which is what a worker in another process sees.
CARTS: dict[str, CartContents | None] = {}
SETTINGS: dict[str, ChannelSettings] = {}


def load_cart_contents(checkout_token: str) -> CartContents | None:
    if checkout_token in CARTS:
        return CARTS[checkout_token]
    return stored_cart_contents(checkout_token)


def load_channel_settings(channel_slug: str) -> ChannelSettings | None:
    if channel_slug in SETTINGS:
        return SETTINGS[channel_slug]
    raw = os.environ.get(CONFIGURATION_ENV)
    if raw:
        return ChannelSettings.from_configuration(json.loads(raw))
    return None


def configure(channel_slug: str = CHANNEL, **overrides: Any) -> ChannelSettings:
    """Save the channel's configuration, as the dashboard does (the scan gates re-open)."""
    settings = set_up(channel_slug, **overrides)
    scan_gates.inputs_changed(scan_gates.CHANNEL_SETTINGS)
    return settings


def set_up(channel_slug: str = CHANNEL, **overrides: Any) -> ChannelSettings:
    """The configuration a test starts from (no database yet: nothing to re-open)."""
    settings = ChannelSettings.from_configuration({**BASE_CONFIGURATION, **overrides})
    SETTINGS[channel_slug] = settings
    return settings


def tea_line(
    name: str = "Longjing green tea",
    *,
    quantity: int = 1,
    price: str = "88.00",
    currency: str = "CNY",
    sku: str | None = "LJ-100",
) -> CartLine:
    return CartLine(
        product_name=name,
        variant_name="100 g",
        sku=sku,
        quantity=quantity,
        unit_price=Decimal(price),
        currency=currency,
        image_url=f"https://cdn.tea.example/{sku or 'none'}.jpg",
    )


def put_cart(
    token: str,
    *lines: CartLine,
    email: str | None = "ann@example.com",
    customer_id: int | None = None,
    currency: str = "CNY",
    timezone: str | None = None,
) -> CartContents:
    contents = CartContents(
        currency=currency,
        lines=tuple(lines),
        email=email,
        customer_id=customer_id,
        timezone=timezone,
    )
    CARTS[token] = contents
    return contents


T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def sweep(at):
    """One run of the periodic sweep, delivering in-process; returns the outcomes."""
    return cart_reminders.sweep_and_deliver(now=at)


def series(token) -> FlowEnrolment:
    """The cart's reminder series: its enrolment in the cart flow."""
    return FlowEnrolment.objects.get(flow="cart", subject_key=f"cart:{token}")


def message(token, step):
    return FlowMessage.objects.get(subject_key=token, step=step)


def order(token=None, *, at, total="176.00", customer_id=None, email="ann@example.com"):
    return PlacedOrder(
        order_id=str(uuid.uuid4()),
        channel_slug=CHANNEL,
        checkout_token=token,
        customer_id=customer_id,
        email=email,
        total=Decimal(total),
        currency="CNY",
        placed_at=at,
    )


def shop_settings():
    settings = load_channel_settings(CHANNEL)
    assert settings is not None
    return settings


class WelcomeFlow:
    """A second, test-only flow, as the lifecycle flows will be: greets the customers in
    ``new_customers`` once each, through the same sweep, outbox, consent and cap.
    """

    name = "welcome_test"

    def __init__(self):
        self.new_customers: list[int] = []

    def schedule_due(self, now):
        created = 0
        for customer_id in self.new_customers:
            _, was_created = FlowMessage.objects.get_or_create(
                subject_key=f"customer:{customer_id}",
                flow=self.name,
                step=1,
                defaults={
                    "channel_slug": CHANNEL,
                    "customer_id": customer_id,
                    "recipient_email": f"c{customer_id}@example.com",
                    "next_attempt_at": now,
                    "idempotency_key": f"welcome:{customer_id}",
                },
            )
            created += was_created
        return {"scheduled": created}

    def is_enabled(self, settings):
        return True

    def prepare(self, message, settings, now):
        return flows.Ready(context={"greeting": "hello"}, zone=ZoneInfo("UTC"))

    def on_opt_out(self, message, now):
        pass
