"""Replenishment and win-back messages render completely in both languages, with recommendations.

The context comes from ``services.lifecycle_content`` over a small shop whose customers
bought tea (101) with cups (102) and honey (103), so a tea reminder recommends cups and
honey.
"""

from __future__ import annotations

import html as html_lib
import re

import pytest

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.delivery import OutgoingMessage
from saleor_retention_plugin.delivery.language import MessageLanguage
from saleor_retention_plugin.delivery.rendering import render_message
from saleor_retention_plugin.services import lifecycle_content
from saleor_retention_plugin.services.recommendations import RecentlySold, refresh_co_purchases

from .factories import CHANNEL, ListedProducts, day, line, order, record

pytestmark = pytest.mark.django_db

UNSUBSCRIBE = "https://api.tea.example/plugins/saleor.retention/unsubscribe/?token=a:b&lang=en"
SETTINGS = ChannelSettings.from_configuration(
    {
        "product_url_template": "https://tea.example/products/{product_id}?utm=x&y=1",
        "winback_perk": "Early access to the <spring> harvest",
    }
)
CATALOGUE = ListedProducts({"101", "102", "103"})
NOW = day(100)


@pytest.fixture
def shop():
    record(
        *(order(c, 10, line("101"), line("102"), line("103")) for c in (1, 2, 3)),
        order(9, 20, line("101")),
    )
    refresh_co_purchases(CHANNEL, min_support=2, now=NOW)


def message(flow, step, language, context):
    return OutgoingMessage(
        idempotency_key=f"{flow}:x:{step}",
        flow=flow,
        step=step,
        channel_slug=CHANNEL,
        customer_id=9,
        recipient_email="c9@example.com",
        language=language,
        context=context,
    )


def assert_complete(rendered):
    assert rendered.subject
    assert "\n" not in rendered.subject
    for part in (rendered.subject, rendered.text, rendered.html):
        assert "{{" not in part
        assert "{%" not in part
    assert UNSUBSCRIBE in rendered.text


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("coupon_code", [None, "BACK-5"])
def test_a_replenishment_reminder_links_to_the_product_and_recommends_others(
    shop, language, coupon_code
):
    context = lifecycle_content.replenishment_context(
        CHANNEL, "customer:9", {"product_id": "101"}, SETTINGS, CATALOGUE, NOW
    )
    context["coupon_code"] = coupon_code

    rendered = render_message(
        message("replenishment", 1, language, context), unsubscribe_url=UNSUBSCRIBE
    )

    assert_complete(rendered)
    assert [card["product_id"] for card in context["recommendations"]] == ["102", "103"]
    product_url = "https://tea.example/products/101?utm=x&y=1"
    assert product_url in rendered.text
    assert html_lib.escape(product_url) in rendered.html
    assert "Product 101" in rendered.subject
    for recommended in ("102", "103"):
        assert f"https://tea.example/products/{recommended}?utm=x&y=1" in rendered.text
        assert f"Product {recommended}" in rendered.html
    assert ("BACK-5" in rendered.text) is (coupon_code is not None)


def test_without_product_names_the_reminder_still_reads(shop):
    context = lifecycle_content.replenishment_context(
        CHANNEL, "customer:9", {"product_id": "101"}, SETTINGS, RecentlySold(), NOW
    )

    rendered = render_message(message("replenishment", 1, "en", context), unsubscribe_url=None)

    assert rendered.subject == "Time to stock up again?"
    assert "See this product" in rendered.text


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("step", [1, 2, 3])
@pytest.mark.parametrize(
    ("segment", "shows"),
    [
        ({"high_value": True}, "perk"),
        ({"price_sensitive": True}, "discount"),
    ],
)
def test_every_win_back_step_renders_the_perk_or_the_discount(shop, language, step, segment, shows):
    context = lifecycle_content.winback_context(
        CHANNEL, "customer:9", step, segment, SETTINGS, CATALOGUE, NOW, currency="USD"
    )

    rendered = render_message(
        message("winback", step, language, context), unsubscribe_url=UNSUBSCRIBE
    )

    assert_complete(rendered)
    assert context["incentive"] == shows
    discount = ("10%", "15%", "20%")[step - 1]
    assert (discount in rendered.text) is (shows == "discount")
    assert ("Early access to the <spring> harvest" in rendered.text) is (shows == "perk")
    assert ("Early access to the &lt;spring&gt; harvest" in rendered.html) is (shows == "perk")
    assert "https://tea.example" in rendered.text  # the shop link
    assert "https://tea.example/products/102?utm=x&y=1" in rendered.text  # recommended


def test_the_three_win_back_steps_read_differently(shop):
    subjects = {
        render_message(
            message(
                "winback",
                step,
                "en",
                lifecycle_content.winback_context(
                    CHANNEL, "customer:9", step, {}, SETTINGS, CATALOGUE, NOW, currency="USD"
                ),
            ),
            unsubscribe_url=None,
        ).subject
        for step in (1, 2, 3)
    }

    assert subjects == {
        "We miss you, with 10% off",
        "It has been a while: something for you, with 15% off",
        "One last note from us, with 20% off",
    }


@pytest.mark.parametrize("flow", ["replenishment", "winback"])
def test_chinese_messages_contain_no_english_copy(shop, flow):
    if flow == "replenishment":
        context = lifecycle_content.replenishment_context(
            CHANNEL, "customer:9", {"product_id": "101"}, SETTINGS, RecentlySold(), NOW
        )
    else:
        context = lifecycle_content.winback_context(
            CHANNEL, "customer:9", 1, {"price_sensitive": True}, SETTINGS, RecentlySold(), NOW
        )
    context["coupon_code"] = "BACK-5"

    rendered = render_message(message(flow, 1, "zh", context), unsubscribe_url=UNSUBSCRIBE)

    assert rendered.language is MessageLanguage.SIMPLIFIED_CHINESE
    text = re.sub(r"https://\S+", "", rendered.text)
    for english in ("Product", "bought", "Reorder", "shop", "miss", "code", "off"):
        assert english not in rendered.subject
        assert english not in text
