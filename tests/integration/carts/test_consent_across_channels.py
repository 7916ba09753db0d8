"""An unsubscribe is a person's objection to the shop's marketing: it covers every channel.

Issue 7, item 8: a customer unsubscribed from a reminder of the shop's CNY channel, then
left a cart in its USD channel a week later and got three reminders, one with a coupon.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import RequestFactory

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.delivery.unsubscribe import unsubscribe_url
from saleor_retention_plugin.endpoints import route_plugin_request
from saleor_retention_plugin.models import FlowMessage
from saleor_retention_plugin.services import cart_reminders

from . import cart_shop
from .cart_shop import CHANNEL, HOUR, T0, put_cart, series, sweep, tea_line

pytestmark = pytest.mark.django_db

USD_CHANNEL = "tea-us"
WEEK = timedelta(days=7)


@pytest.fixture(autouse=True)
def usd_channel():
    cart_shop.configure(USD_CHANNEL)


def click_one_click_unsubscribe(url: str) -> int:
    """What a mail client does with ``List-Unsubscribe-Post``: POST the link."""
    parts = urlsplit(url)
    request = RequestFactory().post(
        f"{parts.path}?{parts.query}",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    # Saleor hands the channel-less route to whichever channel's plugin instance it has.
    plugin = SimpleNamespace(channel=None, settings=ChannelSettings())
    return route_plugin_request(plugin, request, "unsubscribe/").status_code


def leave_usd_cart(track, *, at, email="ann@example.com", customer_id=5):
    token = track(at=at, channel=USD_CHANNEL, currency="USD", email=email, customer_id=customer_id)
    put_cart(
        token,
        tea_line(price="12.00", currency="USD"),
        currency="USD",
        email=email,
        customer_id=customer_id,
    )
    return token


def test_unsubscribing_from_a_cny_reminder_stops_every_usd_reminder_and_coupon(track):
    cny_cart = track(customer_id=5)
    put_cart(cny_cart, tea_line(), customer_id=5)
    assert sweep(T0 + HOUR) == ["sent"]
    [reminder] = mail.outbox
    link = reminder.extra_headers["List-Unsubscribe"].strip("<>")
    assert click_one_click_unsubscribe(link) == 200

    usd_cart = leave_usd_cart(track, at=T0 + WEEK)
    for hours in (1, 24, 72, 24 * 30):
        assert sweep(T0 + WEEK + hours * HOUR) == []

    assert len(mail.outbox) == 1  # only the CNY reminder she unsubscribed from
    assert not FlowMessage.objects.filter(subject_key=usd_cart).exists()
    assert series(usd_cart).stop_reason == "opted_out"


@pytest.mark.parametrize(
    ("link_email", "link_customer", "cart_email", "cart_customer"),
    [
        pytest.param("ann@example.com", None, "ANN@example.com", None, id="guest-by-email"),
        pytest.param(None, 5, "ann.new@example.com", 5, id="customer-by-id-with-a-new-email"),
        pytest.param("ann@example.com", None, "ann@example.com", 77, id="email-then-signed-in"),
    ],
)
def test_an_opt_out_covers_other_channels_by_email_and_by_customer(
    track, link_email, link_customer, cart_email, cart_customer
):
    link = unsubscribe_url("https://api.tea.example", CHANNEL, link_email, link_customer)
    assert click_one_click_unsubscribe(link) == 200

    leave_usd_cart(track, at=T0, email=cart_email, customer_id=cart_customer)

    assert sweep(T0 + HOUR) == []
    assert mail.outbox == []


def test_a_usd_reminder_already_scheduled_is_cancelled_by_a_cny_unsubscribe(track):
    usd_cart = leave_usd_cart(track, at=T0)
    cart_reminders.advance_due_carts(now=T0 + HOUR)
    assert FlowMessage.objects.filter(subject_key=usd_cart, state="scheduled").exists()

    link = unsubscribe_url("https://api.tea.example", CHANNEL, "ann@example.com", None)
    assert click_one_click_unsubscribe(link) == 200

    assert sweep(T0 + HOUR) == ["cancelled:opted_out"]
    assert mail.outbox == []


def test_someone_else_in_the_other_channel_still_gets_reminders(track):
    link = unsubscribe_url("https://api.tea.example", CHANNEL, "ann@example.com", 5)
    assert click_one_click_unsubscribe(link) == 200

    leave_usd_cart(track, at=T0, email="bo@example.com", customer_id=6)

    assert sweep(T0 + HOUR) == ["sent"]
    assert mail.outbox[0].to == ["bo@example.com"]
