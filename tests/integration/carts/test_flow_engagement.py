"""Opens and clicks in the flow report, from real sends, real links and the real endpoints.

The engine sends the messages into Django's mail backend; customers then follow the
links and load the pixels found in those mails, through the plugin's HTTP path. The
report's figures are checked against the hand-picked customers and the tracking rows.
"""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.management import call_command
from django.db.models import Q
from django.test import RequestFactory
from django.utils import timezone

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.delivery import DeliveryReceipt
from saleor_retention_plugin.delivery.base import CHANNELS, register_channel
from saleor_retention_plugin.delivery.payload import message_payload
from saleor_retention_plugin.delivery.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_body
from saleor_retention_plugin.endpoints import route_plugin_request
from saleor_retention_plugin.models import FlowMessage, MessageClick, MessageOpen
from saleor_retention_plugin.selectors.flow_uplift import flow_uplifts

from .cart_shop import CHANNEL, T0, configure, sweep
from .test_flow_uplift import held
from .test_lifecycle_flows import first_order

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
PRODUCTS = "https://tea.example/products/{product_id}"
CLICK = re.compile(r"https://api\.tea\.example/plugins/saleor\.retention/click/\?token=[^\s\"<&]+")
PIXEL = re.compile(r"https://api\.tea\.example/plugins/saleor\.retention/open/\?token=[^\s\"<&]+")


def visit(url, method="GET", **extra):
    parts = urlsplit(url)
    factory = RequestFactory()
    path = f"{parts.path}?{parts.query}" if parts.query else parts.path
    request = (
        factory.post(path, extra.pop("body"), content_type="application/json", **extra)
        if method == "POST"
        else factory.get(path, **extra)
    )
    plugin = SimpleNamespace(channel=None, settings=ChannelSettings())
    return route_plugin_request(plugin, request, parts.path.split("/saleor.retention/", 1)[1])


def html_of(sent: Any) -> str:
    return str(next(body for body, kind in sent.alternatives if kind == "text/html"))


def mails_by_recipient():
    """Recipient -> (click links, open pixel) of the mail they received."""
    found = {}
    for sent in mail.outbox:
        html = html_of(sent)
        [pixel] = PIXEL.findall(html)
        found[sent.to[0]] = (sorted(set(CLICK.findall(html))), pixel)
    return found


def welcome_sent(customers, **overrides):
    configure(
        welcome_enabled="true",
        welcome_delay_hours="2",
        holdout_percent="50",
        product_url_template=PRODUCTS,
        **overrides,
    )
    for customer_id in customers:
        first_order(customer_id, email=f"c{customer_id}@example.com")
    sweep(T0 + 2 * HOUR)


def engagement(flow="welcome"):
    entries = {e["flow"]: e for e in flow_uplifts(CHANNEL, now=timezone.now() + HOUR)}
    return entries[flow]["engagement"]


def test_opens_and_clicks_of_the_welcome_add_up_to_what_customers_did():
    customers = range(1, 21)
    messaged = [c for c in customers if not held(c)]
    welcome_sent(customers)
    mails = mails_by_recipient()
    assert len(mails) == len(messaged) == 11
    a, b, c, d = (f"c{n}@example.com" for n in messaged[:4])
    [shop_link] = mails[a][0]
    visit(shop_link)
    visit(shop_link)  # clicked twice: one clicked message
    visit(mails[a][1])  # and the pixel loaded
    visit(mails[b][1])  # opened, not clicked
    visit(mails[c][0][0])  # clicked with images off: the pixel never loaded
    visit(mails[d][1])
    visit(mails[d][1])  # opened twice: one opened message

    figures = engagement()

    assert figures == {
        "sent": 11,
        "open_tracked": 11,
        "opened": 4,
        "clicked": 2,
        "clicked_tracked": 2,
        "open_rate": "0.3636",
        "click_rate": "0.1818",
        "click_to_open_rate": "0.5000",
    }
    # Against the rows: messages with a click, messages with an open or a click.
    welcome = FlowMessage.objects.filter(flow="welcome", state="sent")
    assert welcome.count() == figures["sent"]
    assert welcome.filter(clicks__isnull=False).distinct().count() == figures["clicked"]
    assert (
        welcome.filter(Q(clicks__isnull=False) | Q(opening__opened_at__isnull=False))
        .distinct()
        .count()
        == figures["opened"]
    )
    assert sorted(MessageClick.objects.values_list("click_count", flat=True)) == [1, 2]
    assert MessageOpen.objects.filter(source="pixel").count() == 3
    # The report as of the send itself: nothing was opened or clicked yet.
    early = {e["flow"]: e for e in flow_uplifts(CHANNEL, now=T0 + 3 * HOUR)}["welcome"]
    assert (early["engagement"]["opened"], early["engagement"]["clicked"]) == (0, 0)


def test_campaign_variants_add_up_to_their_campaign_and_campaigns_to_the_flow():
    from .test_campaigns import FIRST, SHANGHAI_TEN, campaign, campaigns_on, member

    campaigns_on(product_url_template=PRODUCTS)
    for n in range(1, 41):
        member(f"customer:{n}")
    campaign(
        holdout_percent=Decimal(20), coupon_discount="10%", variant_b={"coupon_discount": "20%"}
    )
    campaign(name="Plain", holdout_percent=Decimal(20))
    sweep(FIRST)
    sweep(SHANGHAI_TEN)
    for number, sent in enumerate(mail.outbox):
        html = html_of(sent)
        if number % 3 == 0:
            visit(CLICK.findall(html)[0])
        if number % 2 == 0:
            visit(PIXEL.findall(html)[0])

    entry = {e["flow"]: e for e in flow_uplifts(CHANNEL, now=timezone.now() + HOUR)}["campaign"]

    assert len(mail.outbox) == entry["engagement"]["sent"] > 20
    counted = ("sent", "open_tracked", "opened", "clicked", "clicked_tracked")
    first = entry["campaigns"][0]
    assert {v["variant"] for v in first["variants"]} == {"a", "b"}
    for whole, parts in ((first, first["variants"]), (entry, entry["campaigns"])):
        for figure in counted:
            assert sum(p["engagement"][figure] for p in parts) == whole["engagement"][figure]
    campaign_messages = FlowMessage.objects.filter(flow="campaign", state="sent")
    assert entry["engagement"]["clicked"] == (
        campaign_messages.filter(clicks__isnull=False).distinct().count()
    )
    assert entry["engagement"]["clicked"] == len(range(0, len(mail.outbox), 3))
    assert entry["engagement"]["opened"] == len(
        {n for n in range(len(mail.outbox)) if n % 2 == 0 or n % 3 == 0}
    )


@pytest.fixture
def gateway():
    """An SMS gateway: it keeps the payloads it is handed (the webhook channel's JSON)."""
    received = []

    @register_channel("test-sms")
    def send_sms(message, settings):
        received.append(message_payload(message, settings, include_html=False))
        return DeliveryReceipt(channel="test-sms", provider_message_id=None)

    yield received
    del CHANNELS["test-sms"]


def report(payload, event, secret="s3cret"):
    body = json.dumps({"idempotency_key": payload["idempotency_key"], "event": event}).encode()
    stamp = int(time.time())
    return visit(
        payload["events_url"],
        "POST",
        body=body,
        **{
            f"HTTP_{TIMESTAMP_HEADER.upper().replace('-', '_')}": str(stamp),
            f"HTTP_{SIGNATURE_HEADER.upper().replace('-', '_')}": sign_body(secret, stamp, body),
        },
    )


def test_a_channel_that_reports_no_opens_shows_n_a_not_zero(gateway):
    welcome_sent(range(1, 21), delivery_channel="test-sms", webhook_secret="s3cret")
    assert len(gateway) == 11
    assert not mail.outbox
    visit(gateway[0]["context"]["shop_url"])  # clicks are tracked on every channel

    silent = engagement()

    assert silent == {
        "sent": 11,
        "open_tracked": 0,
        "opened": None,
        "clicked": 1,
        "clicked_tracked": 0,
        "open_rate": None,
        "click_rate": "0.0909",
        "click_to_open_rate": None,
    }
    text = StringIO()
    call_command(
        "retention_report", "--channel", CHANNEL, "--start", "2026-01-01", "--end", "2027-01-01",
        "--no-prediction", stdout=text,
    )  # fmt: skip
    table = text.getvalue().split("Opens and clicks of the messages sent")[1]
    [row] = [line for line in table.splitlines() if line.strip().startswith("welcome ")]
    assert row.split() == ["welcome", "11", "n/a", "n/a", "1", "9.1", "%", "n/a"]


def test_a_gateway_that_reports_back_makes_its_messages_open_tracked(gateway):
    welcome_sent(range(1, 21), delivery_channel="test-sms", webhook_secret="s3cret")
    first, second, third = gateway[:3]
    assert report(first, "delivered").status_code == 200
    assert report(first, "opened").status_code == 200
    assert report(second, "opened").status_code == 200
    assert report(third, "delivered").status_code == 200
    assert report(third, "opened", secret="wrong").status_code == 403
    visit(second["context"]["shop_url"])

    assert engagement() == {
        "sent": 11,
        "open_tracked": 3,
        "opened": 2,
        "clicked": 1,
        "clicked_tracked": 1,
        "open_rate": "0.6667",
        "click_rate": "0.0909",
        "click_to_open_rate": "0.5000",
    }


REPORT = """
query { retentionReport(start: "2026-01-01", end: "2027-01-01") {
  messageEngagement { flow campaignId variant sent openTracked opened clicked
                      openRate clickRate clickToOpenRate }
} }
"""


def test_staff_read_opens_and_clicks_through_the_api_and_customers_cannot(
    loyalty_api, staff_token, customer_token
):
    welcome_sent(range(1, 21))
    links, pixel = mails_by_recipient()["c1@example.com" if not held(1) else "c2@example.com"]
    visit(pixel)
    visit(links[0])

    response = loyalty_api.post(REPORT, {}, token=staff_token().token, channel=CHANNEL)

    rows = response.data["retentionReport"]["messageEngagement"]
    assert {"flow": "welcome", "campaignId": None, "variant": None, "sent": 11,
            "openTracked": 11, "opened": 1, "clicked": 1, "openRate": "0.0909",
            "clickRate": "0.0909", "clickToOpenRate": "1.0000"} in rows  # fmt: skip
    for token in (customer_token().token, None):
        refused = loyalty_api.post(REPORT, {}, token=token, channel=CHANNEL)
        assert refused.error_messages == [
            "You need one of the following permissions: MANAGE_USERS."
        ]
        assert refused.body["data"] is None
