"""Every shipped cart message renders completely, in both languages, for every step."""

import html as html_lib
import re

import pytest

from saleor_retention_plugin.delivery import OutgoingMessage
from saleor_retention_plugin.delivery.base import PermanentDeliveryError, TransientDeliveryError
from saleor_retention_plugin.delivery.language import MessageLanguage
from saleor_retention_plugin.delivery.rendering import format_money, render_message

UNSUBSCRIBE = "https://api.tea.example/plugins/saleor.retention/unsubscribe/?token=a:b&lang=en"
CHECKOUT = "https://tea.example/checkout?token=tok&utm_source=reminder"


def cart_message(*, language, step, coupon_code, flow="cart"):
    return OutgoingMessage(
        idempotency_key=f"cart:tok:step:{step}",
        flow=flow,
        step=step,
        channel_slug="tea",
        customer_id=1,
        recipient_email="ann@example.com",
        language=language,
        context={
            "lines": [
                {
                    "product_name": "Tea <Special> & Co",
                    "variant_name": "",
                    "sku": "T",
                    "quantity": 1,
                    "unit_price": "5",
                    "currency": "EUR",
                    "image_url": None,
                }
            ],
            "total": "5",
            "currency": "EUR",
            "checkout_url": CHECKOUT,
            "coupon_code": coupon_code,
        },
    )


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("step", [1, 2, 3])
@pytest.mark.parametrize("coupon_code", [None, "SAVE-5"])
def test_every_step_renders_with_links_coupon_and_no_template_leftovers(
    language, step, coupon_code
):
    rendered = render_message(
        cart_message(language=language, step=step, coupon_code=coupon_code),
        unsubscribe_url=UNSUBSCRIBE,
    )

    assert rendered.subject
    assert "\n" not in rendered.subject
    for part in (rendered.subject, rendered.text, rendered.html):
        assert "{{" not in part
        assert "{%" not in part
    assert UNSUBSCRIBE in rendered.text
    assert CHECKOUT in rendered.text
    assert html_lib.escape(UNSUBSCRIBE) in rendered.html
    assert html_lib.escape(CHECKOUT) in rendered.html
    assert "€5.00" in rendered.text
    # Product names are escaped in HTML and left alone in text.
    assert "Tea &lt;Special&gt; &amp; Co" in rendered.html
    assert "Tea <Special> & Co" in rendered.text
    assert ("SAVE-5" in rendered.text) is (coupon_code is not None)
    assert ("SAVE-5" in rendered.html) is (coupon_code is not None)


@pytest.mark.parametrize("step", [1, 2, 3])
def test_chinese_messages_contain_no_english_copy(step):
    rendered = render_message(
        cart_message(language="zh", step=step, coupon_code="SAVE-5"), unsubscribe_url=UNSUBSCRIBE
    )

    assert rendered.language is MessageLanguage.SIMPLIFIED_CHINESE
    for english in ("cart", "Unsubscribe", "Total", "Qty", "code", "reminder"):
        assert english not in rendered.subject
        assert english not in rendered.text.replace(UNSUBSCRIBE, "").replace(CHECKOUT, "")


def test_the_three_steps_read_differently():
    subjects = {
        render_message(
            cart_message(language="en", step=step, coupon_code=None), unsubscribe_url=UNSUBSCRIBE
        ).subject
        for step in (1, 2, 3)
    }
    assert len(subjects) == 3


def test_a_flow_without_templates_is_a_permanent_failure_that_names_the_paths():
    with pytest.raises(
        PermanentDeliveryError, match=re.escape("messages/anniversary/en/default.subject.txt")
    ):
        render_message(
            cart_message(language="en", step=1, coupon_code=None, flow="anniversary"),
            unsubscribe_url=UNSUBSCRIBE,
        )


def test_a_broken_merchant_template_holds_the_message_until_it_is_fixed(settings, tmp_path):
    broken = tmp_path / "saleor_retention_plugin/messages/cart/en/step_1.txt"
    broken.parent.mkdir(parents=True)
    broken.write_text("{% if %}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]

    with pytest.raises(TransientDeliveryError, match="template is broken"):
        render_message(
            cart_message(language="en", step=1, coupon_code=None), unsubscribe_url=UNSUBSCRIBE
        )


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("12.5", "USD", "$12.50"),
        ("1234", "CNY", "¥1,234.00"),
        ("3", "PLN", "3.00 PLN"),
        ("n/a", "USD", "n/a USD"),
    ],
)
def test_money_is_shown_with_the_currency(amount, currency, shown):
    assert format_money(amount, currency) == shown
