"""The care, birthday and member-day messages render completely in both languages."""

from __future__ import annotations

import html as html_lib
import re

import pytest

from saleor_retention_plugin.delivery import OutgoingMessage
from saleor_retention_plugin.delivery.rendering import render_message

UNSUBSCRIBE = "https://api.tea.example/plugins/saleor.retention/unsubscribe/?token=a:b&lang=en"
RATE = "https://api.tea.example/plugins/saleor.retention/rate/?token=t{score}"

CONTEXTS = {
    "care_satisfaction": {
        "order_number": "1042",
        "rating_links": [{"score": s, "url": RATE.format(score=s)} for s in range(1, 6)],
    },
    "care_review": {
        "order_number": "1042",
        "review_url": "https://tea.example/review/1042",
        "review_points": 50,
    },
    "care_related": {
        "order_number": "1042",
        "products": [{"name": "Oolong <Tie Guan Yin>", "url": "https://tea.example/p/oolong"}],
        "shop_url": "https://tea.example/",
    },
    "care_coupon": {
        "coupon_code": "BACK-10",
        "coupon_discount_display": "10%",
        "coupon_valid_until": "2026-12-01",
        "shop_url": "https://tea.example/",
    },
    "birthday": {
        "first_name": "Ann",
        "tier_name": "Gold",
        "gift_points": 300,
        "coupon_code": "BDAY-15",
        "coupon_discount_display": "15%",
        "coupon_valid_until": "2026-07-15",
        "shop_url": "https://tea.example/",
    },
    "member_day": {
        "member_day_name": "Singles' Day",
        "multiplier": "2",
        "starts_display": "11 Nov 00:00",
        "ends_display": "12 Nov 00:00",
        "access_starts_display": "10 Nov 00:00",
        "early_access": True,
        "tier_name": "Gold",
        "shop_url": "https://tea.example/",
    },
}

# What each message must show, whatever its language.
MUST_SHOW = {
    "care_satisfaction": [RATE.format(score=s) for s in range(1, 6)],
    "care_review": ["https://tea.example/review/1042", "50"],
    "care_related": ["Oolong", "https://tea.example/p/oolong"],
    "care_coupon": ["BACK-10", "10%", "2026-12-01"],
    "birthday": ["300", "BDAY-15", "15%"],
    "member_day": ["Singles", "2", "10 Nov 00:00"],
}


# The care flow's steps by kind (``CareStepKind.number``); the others have one message.
FLOW_AND_STEP = {
    "care_satisfaction": ("care", 1),
    "care_review": ("care", 2),
    "care_related": ("care", 3),
    "care_coupon": ("care", 4),
    "birthday": ("birthday", 1),
    "member_day": ("member_day", 1),
}


def message(name, language, context):
    flow, step = FLOW_AND_STEP[name]
    return OutgoingMessage(
        idempotency_key=f"{flow}:{step}",
        flow=flow,
        step=step,
        channel_slug="tea",
        customer_id=1,
        recipient_email="ann@example.com",
        language=language,
        context=context,
    )


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("flow", sorted(CONTEXTS))
def test_every_message_renders_its_content_and_no_template_leftovers(flow, language):
    rendered = render_message(message(flow, language, CONTEXTS[flow]), unsubscribe_url=UNSUBSCRIBE)

    assert rendered.subject
    assert "\n" not in rendered.subject
    for part in (rendered.subject, rendered.text, rendered.html):
        assert "{{" not in part
        assert "{%" not in part
    text_and_html = rendered.text + html_lib.unescape(rendered.html)
    for expected in MUST_SHOW[flow]:
        assert expected in rendered.text
        assert expected in text_and_html
    assert UNSUBSCRIBE in rendered.text
    assert html_lib.escape(UNSUBSCRIBE) in rendered.html
    chinese = bool(re.search(r"[\u4e00-\u9fff]", rendered.text))
    assert chinese is (language == "zh-hans")


def test_a_product_name_is_escaped_in_html():
    rendered = render_message(
        message("care_related", "en", CONTEXTS["care_related"]), unsubscribe_url=UNSUBSCRIBE
    )
    assert "Oolong &lt;Tie Guan Yin&gt;" in rendered.html
    assert "<Tie Guan Yin>" not in rendered.html


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_optional_blocks_disappear_when_empty(language):
    rendered = render_message(
        message("birthday", language, {"first_name": "", "gift_points": 0, "coupon_code": ""}),
        unsubscribe_url=UNSUBSCRIBE,
    )
    assert "points" not in rendered.text.replace("积分", "")
    assert "None" not in rendered.text
    related = render_message(
        message("care_related", language, {"order_number": "1", "products": []}),
        unsubscribe_url=UNSUBSCRIBE,
    )
    with_products = render_message(
        message("care_related", language, CONTEXTS["care_related"]), unsubscribe_url=UNSUBSCRIBE
    )
    product_row = "border-bottom:1px solid #e4e4e7"
    assert product_row in with_products.html
    assert product_row not in related.html
