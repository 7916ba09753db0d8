"""The unsubscribe page under the plugin path, as Saleor routes it to the plugin."""

from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.db import transaction
from django.test import Client, RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.delivery.unsubscribe import unsubscribe_token, unsubscribe_url
from saleor_retention_plugin.endpoints import route_plugin_request
from saleor_retention_plugin.models import MarketingOptOut
from saleor_retention_plugin.services.consent import is_opted_out

pytestmark = pytest.mark.django_db


@pytest.fixture
def plugin_for():
    def make(channel_slug):
        return SimpleNamespace(
            channel=SimpleNamespace(slug=channel_slug),
            settings=ChannelSettings.from_configuration({}),
        )

    return make


@pytest.fixture
def call():
    factory = RequestFactory()

    def call(plugin, method, url, **extra):
        parts = urlsplit(url)
        path = f"{parts.path}?{parts.query}" if parts.query else parts.path
        if method == "POST":
            request = factory.post(path, **extra)
        else:
            request = getattr(factory, method.lower())(path, **extra)
        plugin_path = parts.path.split("/saleor.retention/", 1)[1]
        return route_plugin_request(plugin, request, plugin_path)

    return call


def link(channel_slug="tea-cn", email="ann@example.com", customer_id=42, language=None):
    return unsubscribe_url(
        "https://api.tea.example", channel_slug, email, customer_id, language=language
    )


def test_opening_the_link_asks_for_confirmation_and_changes_nothing(call, plugin_for):
    response = call(plugin_for("tea-cn"), "GET", link())

    assert response.status_code == 200
    assert b'<form method="post"' in response.content
    assert b"Unsubscribe" in response.content
    assert not MarketingOptOut.objects.exists()


def test_confirming_opts_the_customer_and_the_email_out_of_every_channel(call, plugin_for):
    response = call(plugin_for("tea-cn"), "POST", link())

    assert response.status_code == 200
    assert b"You are unsubscribed" in response.content
    for channel in ("tea-cn", "tea-us", "a-channel-created-later"):
        assert is_opted_out(channel, email=None, customer_id=42)
        assert is_opted_out(channel, email="ANN@example.com", customer_id=None)
    assert not is_opted_out("tea-us", email="bo@example.com", customer_id=43)


@pytest.mark.parametrize(
    ("language", "covers"),
    [
        (None, "in any of its stores and currencies, at this email address or for your customer"),
        ("zh-Hans", "本店任何店铺、任何币种的购物车提醒和优惠消息"),
    ],
)
def test_the_page_says_what_the_unsubscribe_covers_before_and_after(
    call, plugin_for, language, covers
):
    url = link(language=language)

    asked = call(plugin_for("tea-cn"), "GET", url).content.decode()
    done = call(plugin_for("tea-cn"), "POST", url).content.decode()

    assert covers in asked
    assert covers in done


def test_one_click_unsubscribe_from_the_mail_client_works_and_repeats_safely(call, plugin_for):
    for _ in range(2):
        response = call(
            plugin_for("tea-cn"),
            "POST",
            link(),
            data="List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 200

    assert MarketingOptOut.objects.filter(channel_slug="tea-cn").count() == 2  # id + email
    assert is_opted_out("tea-cn", email="ann@example.com", customer_id=None)


def test_a_guest_can_unsubscribe_by_email(call, plugin_for):
    call(plugin_for("tea-cn"), "POST", link(customer_id=None, email="guest@example.com"))

    assert is_opted_out("tea-cn", email="guest@example.com", customer_id=None)


def test_the_page_speaks_chinese_to_a_chinese_customer(call, plugin_for):
    confirm = call(plugin_for("tea-cn"), "GET", link(language="zh_hans"))
    done = call(plugin_for("tea-cn"), "POST", link(language="zh_hans"))

    assert "确认退订" in confirm.content.decode()
    assert "已成功退订" in done.content.decode()


def test_the_page_language_follows_the_browser_when_the_link_has_none(call, plugin_for):
    response = call(plugin_for("tea-cn"), "GET", link(), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")

    assert "确定退订吗" in response.content.decode()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_forged_token_is_rejected_and_changes_nothing(call, plugin_for, method):
    genuine = unsubscribe_token("tea-cn", None, 42)
    forged_payload = unsubscribe_token("tea-cn", None, 43).split(":")[0]
    forged = ":".join([forged_payload, *genuine.split(":")[1:]])
    url = f"https://api.tea.example/plugins/channel/tea-cn/saleor.retention/unsubscribe/?token={forged}"

    response = call(plugin_for("tea-cn"), method, url)

    assert response.status_code == 400
    assert b"not valid" in response.content
    assert not MarketingOptOut.objects.exists()


@pytest.mark.parametrize("query", ["", "?token=", "?token=garbage"])
def test_a_missing_or_garbled_token_is_rejected(call, plugin_for, query):
    url = f"https://api.tea.example/plugins/channel/tea-cn/saleor.retention/unsubscribe/{query}"

    response = call(plugin_for("tea-cn"), "POST", url)

    assert response.status_code == 400
    assert not MarketingOptOut.objects.exists()


def test_a_channel_route_refuses_a_link_of_another_channel(call, plugin_for):
    token = parse_qs(urlsplit(link(channel_slug="tea-cn")).query)["token"][0]
    url = (
        "https://api.tea.example/plugins/channel/other-channel/saleor.retention/unsubscribe/"
        f"?{urlencode({'token': token})}"
    )

    response = call(plugin_for("other-channel"), "POST", url)

    assert response.status_code == 400
    assert not MarketingOptOut.objects.exists()


def test_the_channel_less_link_opts_out_of_the_channel_its_token_names(call, plugin_for):
    # Saleor hands the channel-less route to any channel's plugin instance.
    response = call(plugin_for("other-channel"), "POST", link(channel_slug="tea-cn"))

    assert response.status_code == 200
    assert list(MarketingOptOut.objects.values_list("channel_slug", flat=True).distinct()) == [
        "tea-cn"
    ]


def test_other_methods_are_not_allowed(call, plugin_for):
    response = call(plugin_for("tea-cn"), "DELETE", link())

    assert response.status_code == 405
    assert not MarketingOptOut.objects.exists()


# --- fuzzing ---------------------------------------------------------------------------------

GENUINE = unsubscribe_token("tea-cn", "ann@example.com", 42)


def _tampered(token: str, position: int, character: str) -> str:
    index = position % len(token)
    return token[:index] + character + token[index + 1 :]


hostile_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["", "\x00", "\ud800", "a:b:c", "..", "%00", "<script>", "🎁"]),
)
tokens = st.one_of(
    hostile_text,
    st.builds(_tampered, st.just(GENUINE), st.integers(0, 500), st.characters()),
    st.builds(lambda tail: GENUINE + tail, hostile_text.filter(bool)),
)


@pytest.mark.urls("tests.integration.plugin_urls")
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    token=tokens,
    method=st.sampled_from(["GET", "POST"]),
    language=st.one_of(st.none(), hostile_text),
    in_body=st.booleans(),
)
def test_no_forged_or_garbled_link_answers_500_or_unsubscribes_anyone(
    token, method, language, in_body
):
    query = {**({} if in_body and method == "POST" else {"token": token})}
    if language is not None:
        query["lang"] = language
    path = "/plugins/channel/tea-cn/saleor.retention/unsubscribe/"
    url = f"{path}?{urlencode(query, errors='surrogatepass')}"
    client = Client(raise_request_exception=False)
    body = urlencode({"token": token}, errors="surrogatepass") if in_body else ""

    with transaction.atomic():
        if method == "POST":
            response = client.post(url, data=body, content_type="application/x-www-form-urlencoded")
        else:
            response = client.get(url)
        recorded = MarketingOptOut.objects.exists()
        transaction.set_rollback(True)

    assert response.status_code in (200, 400), response.content[:300]
    assert response["Content-Type"] == "text/html; charset=utf-8"
    if token != GENUINE or method == "GET":
        assert not recorded
    else:
        assert recorded
