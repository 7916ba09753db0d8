"""Click redirects, open pixels and gateway reports, through the plugin's HTTP path."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core import signing
from django.db import OperationalError, connection
from django.test import RequestFactory
from django.utils import timezone

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.delivery.base import OutgoingMessage
from saleor_retention_plugin.delivery.payload import message_payload
from saleor_retention_plugin.delivery.rendering import render_message
from saleor_retention_plugin.delivery.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_body,
)
from saleor_retention_plugin.delivery.tracking import (
    CLICK_SALT,
    LINK_MARGIN,
    TrackedLink,
    click_url,
    message_link_tracker,
    read_click_token,
    tracking_expiry,
)
from saleor_retention_plugin.endpoints import route_plugin_request
from saleor_retention_plugin.models import FlowMessage, MessageClick, MessageOpen

pytestmark = pytest.mark.django_db

BASE = "https://api.tea.example"
KEY = "retention:welcome:enrolment:1:1"
SHOP = "https://tea.example/"
SECRET = "gateway-secret"


@pytest.fixture
def visit():
    factory = RequestFactory()
    plugin = SimpleNamespace(channel=None, settings=ChannelSettings())

    def visit(method, url, *, body=None, **extra):
        parts = urlsplit(url)
        path = f"{parts.path}?{parts.query}" if parts.query else parts.path
        if method == "POST":
            request = factory.post(path, body or b"", content_type="application/json", **extra)
        else:
            request = getattr(factory, method.lower())(path, **extra)
        return route_plugin_request(plugin, request, parts.path.split("/saleor.retention/", 1)[1])

    return visit


@pytest.fixture
def sent():
    def make(key=KEY, *, channel="email", flow="welcome"):
        return FlowMessage.objects.create(
            flow=flow,
            subject_key=key,
            step=1,
            channel_slug="tea-cn",
            customer_id=42,
            recipient_email="ann@example.com",
            state="sent",
            sent_at=timezone.now(),
            idempotency_key=key,
            delivery_channel=channel,
        )

    return make


def link_to(target=SHOP, *, kind="shop", key=KEY, expires_in=timedelta(days=30)):
    return click_url(BASE, TrackedLink(key, kind, target, timezone.now() + expires_in))


def token_of(url):
    return parse_qs(urlsplit(url).query)["token"][0]


def with_token(url, token):
    return f"{url.split('?', 1)[0]}?{urlencode({'token': token})}"


# --- clicks ----------------------------------------------------------------------------


def test_a_click_is_recorded_and_redirects_to_the_signed_target(visit, sent):
    message = sent()

    response = visit("GET", link_to())

    assert response.status_code == 302
    assert response["Location"] == SHOP
    assert response["Cache-Control"] == "no-store"
    [click] = MessageClick.objects.all()
    assert (click.message_id, click.link_kind, click.target) == (message.pk, "shop", SHOP)
    assert click.click_count == 1
    assert click.first_clicked_at == click.last_clicked_at


def test_clicking_again_counts_on_the_same_row_and_keeps_the_first_time(visit, sent):
    sent()
    url = link_to()
    visit("GET", url)
    first = MessageClick.objects.get().first_clicked_at

    for _ in range(3):
        assert visit("GET", url).status_code == 302

    [click] = MessageClick.objects.all()
    assert click.click_count == 4
    assert click.first_clicked_at == first
    assert click.last_clicked_at >= first


def test_each_link_of_a_message_has_its_own_row(visit, sent):
    sent()
    visit("GET", link_to())
    visit("GET", link_to("https://tea.example/p/7", kind="product"))
    visit("GET", link_to(SHOP, kind="review"))  # same URL, another link of the message

    assert sorted(MessageClick.objects.values_list("link_kind", "click_count")) == [
        ("product", 1),
        ("review", 1),
        ("shop", 1),
    ]


def test_a_link_whose_target_was_changed_is_refused_and_records_nothing(visit, sent):
    sent()
    token = token_of(link_to())
    value, _, signature = token.rpartition(":")
    payload = signing.loads(token, salt=CLICK_SALT)
    forged = signing.dumps({**payload, "t": "https://evil.example/"}, salt="another salt")
    altered = f"{token[:10]}x{token[11:]}"

    for bad in (forged, altered, "", "not-a-token", f"{value}:{signature[::-1]}"):
        response = visit("GET", with_token(link_to(), bad))
        assert response.status_code == 400
        assert "Location" not in response
    assert not MessageClick.objects.exists()


def test_a_token_signed_with_the_rating_or_unsubscribe_salt_is_refused(visit, sent):
    sent()
    payload = signing.loads(token_of(link_to()), salt=CLICK_SALT)
    for salt in (
        "saleor_retention_plugin.delivery.rating",
        "saleor_retention_plugin.delivery.unsubscribe",
        "saleor_retention_plugin.delivery.open",
    ):
        token = signing.dumps(payload, salt=salt, compress=True)
        assert visit("GET", with_token(link_to(), token)).status_code == 400
    assert not MessageClick.objects.exists()


@pytest.mark.parametrize(
    "target", ["javascript:alert(1)", "//evil.example/", "/relative", "ftp://tea.example/"]
)
def test_a_genuinely_signed_token_for_a_non_web_target_is_refused(visit, sent, target):
    sent()
    payload = signing.loads(token_of(link_to()), salt=CLICK_SALT)
    token = signing.dumps({**payload, "t": target}, salt=CLICK_SALT, compress=True)

    assert visit("GET", with_token(link_to(), token)).status_code == 400
    with pytest.raises(ValueError, match="absolute http"):
        link_to(target)


def test_an_expired_link_answers_410_with_the_target_as_a_plain_link(visit, sent):
    sent()

    response = visit("GET", link_to(expires_in=timedelta(seconds=-1)))

    assert response.status_code == 410
    assert "Location" not in response
    page = response.content.decode()
    assert "This link has expired" in page
    assert f'href="{SHOP}"' in page
    assert not MessageClick.objects.exists()


def test_a_head_request_redirects_without_recording_and_a_post_is_refused(visit, sent):
    sent()
    url = link_to()

    assert visit("HEAD", url).status_code == 302
    assert visit("POST", url).status_code == 405
    assert not MessageClick.objects.exists()


def test_a_link_of_a_message_that_no_longer_exists_still_redirects(visit):
    response = visit("GET", link_to(key="retention:gone:1"))

    assert response.status_code == 302
    assert response["Location"] == SHOP
    assert not MessageClick.objects.exists()


def refuse_every_query(execute, sql, params, many, context):
    raise OperationalError("server closed the connection unexpectedly")


def test_the_database_down_answers_503_not_500(visit, sent):
    sent()
    url = link_to()
    pixel = open_pixel_of(message_for())

    with connection.execute_wrapper(refuse_every_query):
        click = visit("GET", url)
        opened = visit("GET", pixel)

    assert click.status_code == 503
    assert "try again" in click.content.decode()
    assert opened.status_code == 503
    assert not MessageClick.objects.exists()
    assert not MessageOpen.objects.exists()


def test_the_pages_speak_simplified_chinese(visit, sent):
    sent()
    response = visit("GET", link_to(expires_in=timedelta(seconds=-1)), HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert "链接已过期" in response.content.decode()


# --- rendering -------------------------------------------------------------------------


def message_for(flow="care", step=3, context=None, key=KEY):
    return OutgoingMessage(
        idempotency_key=key,
        flow=flow,
        step=step,
        channel_slug="tea-cn",
        customer_id=42,
        recipient_email="ann@example.com",
        language="en",
        context=context or {},
    )


def shop_settings(**overrides):
    return ChannelSettings.from_configuration(
        {"public_api_url": BASE, "attribution_window_days": "7", **overrides}
    )


def open_pixel_of(message):
    from saleor_retention_plugin.delivery.tracking import message_open_pixel_url

    return message_open_pixel_url(message, shop_settings(), now=timezone.now())


CARDS = [{"name": "Gaiwan", "url": "https://tea.example/p/2"}, {"name": "No link", "url": ""}]


@pytest.mark.parametrize(
    ("flow", "step", "context", "expected"),
    [
        (
            "care",
            3,
            {"order_number": "12", "shop_url": SHOP, "products": CARDS},
            {("shop", SHOP), ("product", "https://tea.example/p/2")},
        ),
        (
            "winback",
            1,
            {"step": 1, "incentive": "none", "shop_url": SHOP, "recommendations": CARDS},
            {("shop", SHOP), ("recommendation", "https://tea.example/p/2")},
        ),
        (
            "replenishment",
            1,
            {
                "product": {"name": "Oolong", "url": "https://tea.example/p/1"},
                "recommendations": [],
            },
            {("product", "https://tea.example/p/1")},
        ),
        (
            "cart",
            1,
            {"lines": [], "total": "1", "currency": "CNY", "checkout_url": "https://tea.example/c"},
            {("checkout", "https://tea.example/c")},
        ),
        ("welcome", 1, {"points": 5, "shop_url": SHOP}, {("shop", SHOP)}),
        ("campaign", 1, {"kind": "clearance", "points": 5, "shop_url": SHOP}, {("shop", SHOP)}),
    ],
)
def test_every_link_of_a_message_is_tracked_but_the_unsubscribe_link(flow, step, context, expected):
    message = message_for(flow=flow, step=step, context=context)
    track = message_link_tracker(message, shop_settings(), now=timezone.now())
    unsubscribe = f"{BASE}/plugins/saleor.retention/unsubscribe/?token=u"
    rendered = render_message(message, unsubscribe_url=unsubscribe, links=track)

    for part in (rendered.text, rendered.html):
        assert not any(target in part.replace(BASE, "") for _, target in expected)
        assert "/plugins/saleor.retention/unsubscribe/?token=u" in part
        links = {
            (link.kind, link.target)
            for link in (
                read_click_token(token, now=timezone.now())
                for token in tokens_in(part, "/click/?token=")
            )
        }
        assert links == expected
    if any(context.get(key) for key in ("products", "recommendations")):
        assert "No link" in rendered.html  # a card without a URL stays as it was


def tokens_in(text, marker):
    import re
    from urllib.parse import unquote

    return [unquote(t) for t in re.findall(re.escape(marker) + r"([^\s\"<&]+)", text)]


def test_links_record_for_the_attribution_window_and_a_margin():
    now = timezone.now()
    assert tracking_expiry(shop_settings(attribution_window_days="14"), now) == (
        now + timedelta(days=14) + LINK_MARGIN
    )
    track = message_link_tracker(message_for(), shop_settings(), now=now)
    link = read_click_token(token_of(track("shop", SHOP)), now=now)
    assert link.expires_at.timestamp() == int((now + timedelta(days=7) + LINK_MARGIN).timestamp())


def test_rating_links_go_through_the_redirect_and_still_rate(visit, sent):
    from saleor_retention_plugin.delivery.rating_links import satisfaction_rating_urls

    sent()
    ratings = satisfaction_rating_urls(
        shop_settings(),
        channel_slug="tea-cn",
        order_id="order-1",
        customer_id=42,
        email="ann@example.com",
        now=timezone.now(),
    )
    context = {
        "order_number": "1",
        "rating_links": [{"score": s, "url": u} for s, u in sorted(ratings.items())],
    }
    message = message_for(step=1, context=context)
    rendered = render_message(
        message,
        unsubscribe_url=None,
        links=message_link_tracker(message, shop_settings(), now=timezone.now()),
    )
    [four] = [
        t
        for t in tokens_in(rendered.html, "/click/?token=")
        if read_click_token(t, now=timezone.now()).target == ratings[4]
    ]

    redirect = visit("GET", with_token(f"{BASE}/plugins/saleor.retention/click/", four))
    assert redirect.status_code == 302
    assert redirect["Location"] == ratings[4]
    page = visit("GET", redirect["Location"])  # the rating page asks before recording
    assert page.status_code == 200
    assert "4 out of 5" in page.content.decode()
    assert MessageClick.objects.get().link_kind == "rating"


def test_the_webhook_payload_tracks_its_links_and_names_where_to_report():
    message = message_for(flow="winback", step=1, context={"shop_url": SHOP, "step": 1})
    payload = message_payload(message, shop_settings(), include_html=False)

    assert payload["events_url"] == f"{BASE}/plugins/saleor.retention/message-events/"
    assert payload["context"]["shop_url"] != SHOP
    assert (
        read_click_token(token_of(payload["context"]["shop_url"]), now=timezone.now()).target
        == SHOP
    )
    assert SHOP not in payload["text"].replace(BASE, "")


# --- opens -----------------------------------------------------------------------------


def test_the_open_pixel_records_the_first_open_once(visit, sent):
    message = sent()
    pixel = open_pixel_of(message_for())

    response = visit("GET", pixel)
    first = MessageOpen.objects.get(message=message).opened_at
    again = visit("GET", pixel)

    assert response.status_code == again.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    opening = MessageOpen.objects.get(message=message)
    assert (opening.opened_at, opening.source) == (first, "pixel")


def test_a_forged_pixel_records_nothing(visit, sent):
    sent()
    pixel = open_pixel_of(message_for())
    assert visit("GET", with_token(pixel, token_of(pixel)[:-2] + "xx")).status_code == 400
    # A click token is not an open token.
    assert visit("GET", with_token(pixel, token_of(link_to()))).status_code == 400
    assert not MessageOpen.objects.exists()


# --- gateway reports -------------------------------------------------------------------


@pytest.fixture
def gateway_settings(settings):
    from tests.integration.carts import cart_shop

    settings.RETENTION_CHANNEL_SETTINGS_LOADER = (
        "tests.integration.carts.cart_shop.load_channel_settings"
    )
    cart_shop.SETTINGS["tea-cn"] = ChannelSettings.from_configuration(
        {"public_api_url": BASE, "webhook_url": "https://gw.example/", "webhook_secret": SECRET}
    )
    yield
    cart_shop.SETTINGS.pop("tea-cn", None)


def report(visit, event, *, key=KEY, secret=SECRET, timestamp=None, body=None):
    body = (
        body if body is not None else json.dumps({"idempotency_key": key, "event": event}).encode()
    )
    stamp = int(time.time()) if timestamp is None else timestamp
    return visit(
        "POST",
        f"{BASE}/plugins/saleor.retention/message-events/",
        body=body,
        **{
            f"HTTP_{TIMESTAMP_HEADER.upper().replace('-', '_')}": str(stamp),
            f"HTTP_{SIGNATURE_HEADER.upper().replace('-', '_')}": sign_body(secret, stamp, body),
        },
    )


def test_a_gateway_reports_delivery_then_open_once_each(visit, sent, gateway_settings):
    message = sent(channel="webhook")

    assert report(visit, "delivered").status_code == 200
    delivered = MessageOpen.objects.get(message=message)
    assert (delivered.source, delivered.opened_at) == ("webhook", None)
    assert json.loads(report(visit, "opened").content) == {"recorded": True}
    opened_at = MessageOpen.objects.get(message=message).opened_at
    assert report(visit, "opened").status_code == 200  # a replay changes nothing

    final = MessageOpen.objects.get(message=message)
    assert (final.delivered_at, final.opened_at) == (delivered.delivered_at, opened_at)


def test_a_report_that_does_not_verify_is_refused_and_records_nothing(
    visit, sent, gateway_settings
):
    sent(channel="webhook")

    assert report(visit, "opened", secret="guessed").status_code == 403
    assert report(visit, "opened", timestamp=int(time.time()) - 3600).status_code == 403
    assert report(visit, "opened", key="retention:unknown").status_code == 403
    assert report(visit, "clicked").status_code == 400
    assert report(visit, "opened", body=b"{not json").status_code == 400
    assert report(visit, "opened", body=b"[]").status_code == 400
    assert visit("GET", f"{BASE}/plugins/saleor.retention/message-events/").status_code == 405
    assert not MessageOpen.objects.exists()


def test_reports_are_refused_where_no_webhook_secret_is_configured(visit, sent):
    sent(channel="webhook")
    assert report(visit, "opened").status_code == 403
    assert not MessageOpen.objects.exists()
