"""Cart reminders sent through a real SMTP server (aiosmtpd on 127.0.0.1)."""

import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.utils import timezone

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.delivery import (
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
    send_message,
)
from saleor_retention_plugin.delivery.tracking import read_click_token
from saleor_retention_plugin.delivery.unsubscribe import read_unsubscribe_token

from .delivery_servers import RecordingSMTPHandler, free_port, start_smtp_server


@pytest.fixture
def smtp_handler():
    return RecordingSMTPHandler()


@pytest.fixture
def smtp_server(smtp_handler):
    controller = start_smtp_server(smtp_handler)
    yield controller
    controller.stop()


@pytest.fixture
def make_settings():
    def make(port, **overrides):
        configuration = {
            "delivery_channel": "email",
            "smtp_host": "127.0.0.1",
            "smtp_port": str(port),
            "smtp_use_tls": "false",
            "from_email": "Tea Shop <hello@tea.example>",
            "reply_to": "care@tea.example",
            "public_api_url": "https://api.tea.example",
            "checkout_url_template": "https://tea.example/checkout?token={token}",
            **overrides,
        }
        return ChannelSettings.from_configuration(configuration)

    return make


@pytest.fixture
def make_reminder():
    def make(*, language="en", step=1, coupon_code=None, email="ann@example.com", key=None):
        return OutgoingMessage(
            idempotency_key=key or f"cart:tok-1:step:{step}",
            flow="cart",
            step=step,
            channel_slug="tea-cn",
            customer_id=42,
            recipient_email=email,
            language=language,
            context={
                "lines": [
                    {
                        "product_name": "Oolong Tea",
                        "variant_name": "250 g",
                        "sku": "OOL-250",
                        "quantity": 2,
                        "unit_price": "12.50",
                        "currency": "USD",
                        "image_url": "https://cdn.tea.example/oolong.png",
                    },
                    {
                        "product_name": "Gaiwan Cup",
                        "variant_name": "",
                        "sku": "GW-1",
                        "quantity": 1,
                        "unit_price": "1234.00",
                        "currency": "USD",
                        "image_url": None,
                    },
                ],
                "total": "1259.00",
                "currency": "USD",
                "checkout_url": "https://tea.example/checkout?token=tok-1",
                "coupon_code": coupon_code,
            },
        )

    return make


def clicked_targets(part):
    """``(kind, target)`` of every tracked click link in a rendered part."""
    urls = re.findall(
        r"https://api\.tea\.example/plugins/saleor\.retention/click/\?token=[^\s\"<&]+", part
    )
    links = [
        read_click_token(unquote(url.split("token=", 1)[1]), now=timezone.now()) for url in urls
    ]
    return sorted({(link.kind, link.target) for link in links})


def parts_of(received):
    text = received.get_body(preferencelist=("plain",)).get_content()
    html = received.get_body(preferencelist=("html",)).get_content()
    return text, html


def test_reminder_arrives_with_text_and_html_showing_lines_prices_and_links(
    smtp_server, smtp_handler, make_settings, make_reminder
):
    receipt = send_message(make_reminder(), make_settings(smtp_server.port))

    [received] = smtp_handler.messages
    assert smtp_handler.envelope_recipients == [["ann@example.com"]]
    assert received["Subject"] == "You left something in your cart"
    assert received["From"] == "Tea Shop <hello@tea.example>"
    assert received["Reply-To"] == "care@tea.example"
    text, html = parts_of(received)
    for part in (text, html):
        assert "Oolong Tea" in part
        assert "250 g" in part
        assert "$12.50" in part
        assert "$25.00" in part  # 2 x 12.50
        assert "$1,234.00" in part
        assert "$1,259.00" in part
        # The checkout link goes through the signed click redirect, to the same target.
        assert "https://tea.example/checkout?token=tok-1" not in part
        [(kind, target)] = clicked_targets(part)
        assert (kind, target) == ("checkout", "https://tea.example/checkout?token=tok-1")
    assert '<img src="https://cdn.tea.example/oolong.png"' in html
    assert html.count("/plugins/saleor.retention/open/?token=") == 1  # the open pixel
    assert "/open/" not in text
    assert "code" not in text  # no coupon on this step
    assert receipt.channel == "email"
    assert receipt.provider_message_id == received["Message-ID"]


def test_reminder_in_simplified_chinese_for_a_chinese_customer(
    smtp_server, smtp_handler, make_settings, make_reminder
):
    send_message(
        make_reminder(language="zh-Hans-CN", step=2, coupon_code="CART-5OFF"),
        make_settings(smtp_server.port),
    )

    [received] = smtp_handler.messages
    assert received["Subject"] == "还在犹豫吗?送您一张优惠券"
    assert received["Content-Language"] == "zh-Hans"
    text, html = parts_of(received)
    assert "结算时输入优惠码 CART-5OFF 即可使用" in text
    assert "CART-5OFF" in html
    assert "数量 2" in html
    assert "合计:$1,259.00" in text
    assert "退订" in text
    assert "退订" in html
    assert '<html lang="zh-Hans">' in html


def test_headers_carry_a_stable_message_id_idempotency_key_and_one_click_unsubscribe(
    smtp_server, smtp_handler, make_settings, make_reminder
):
    settings = make_settings(smtp_server.port)
    send_message(make_reminder(key="cart:tok-1:step:1"), settings)
    send_message(make_reminder(key="cart:tok-1:step:1"), settings)
    send_message(make_reminder(key="cart:tok-1:step:2"), settings)

    first, repeated, other = smtp_handler.messages
    assert first["X-Retention-Idempotency-Key"] == "cart:tok-1:step:1"
    assert first["Message-ID"] == repeated["Message-ID"]
    assert first["Message-ID"] != other["Message-ID"]
    assert first["Message-ID"].endswith("@tea.example>")
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = first["List-Unsubscribe"].strip().strip("<>")
    assert link.startswith("https://api.tea.example/plugins/saleor.retention/unsubscribe/")
    who = read_unsubscribe_token(parse_qs(urlsplit(link).query)["token"][0])
    assert (who.channel_slug, who.customer_id, who.email) == ("tea-cn", 42, "ann@example.com")
    _, html = parts_of(first)
    assert link.replace("&", "&amp;") in html


def test_a_refused_connection_is_transient(make_settings, make_reminder):
    nobody_listens = free_port()

    with pytest.raises(TransientDeliveryError, match="Could not reach the mail server"):
        send_message(make_reminder(), make_settings(nobody_listens))


@pytest.mark.parametrize("failing_stage", ["rcpt_reply", "data_reply"])
def test_a_4xx_answer_is_transient_and_the_retry_delivers_exactly_once(
    smtp_server, smtp_handler, make_settings, make_reminder, failing_stage
):
    settings = make_settings(smtp_server.port)
    setattr(smtp_handler, failing_stage, "451 4.3.0 Try again later")

    with pytest.raises(TransientDeliveryError, match="451"):
        send_message(make_reminder(), settings)
    assert smtp_handler.messages == []

    setattr(smtp_handler, failing_stage, None)
    send_message(make_reminder(), settings)

    assert len(smtp_handler.messages) == 1
    assert smtp_handler.messages[0]["X-Retention-Idempotency-Key"] == "cart:tok-1:step:1"


def test_a_5xx_recipient_refusal_is_permanent(
    smtp_server, smtp_handler, make_settings, make_reminder
):
    smtp_handler.rcpt_reply = "550 5.1.1 No such user"

    with pytest.raises(PermanentDeliveryError, match="550"):
        send_message(make_reminder(), make_settings(smtp_server.port))


def test_starttls_against_a_server_without_it_is_transient(
    smtp_server, smtp_handler, make_settings, make_reminder
):
    # A misconfigured TLS setting must not drop the message: the merchant fixes it, it goes.
    with pytest.raises(TransientDeliveryError):
        send_message(make_reminder(), make_settings(smtp_server.port, smtp_use_tls="true"))
    assert smtp_handler.messages == []


def test_a_customer_without_email_is_a_permanent_failure(make_settings, make_reminder):
    with pytest.raises(PermanentDeliveryError, match="no email"):
        send_message(make_reminder(email=None), make_settings(free_port()))


def test_without_a_public_address_no_message_goes_out_without_an_unsubscribe_link(
    smtp_server, smtp_handler, make_settings, make_reminder, settings
):
    settings.PUBLIC_URL = None

    with pytest.raises(PermanentDeliveryError, match="unsubscribe link"):
        send_message(make_reminder(), make_settings(smtp_server.port, public_api_url=""))
    assert smtp_handler.messages == []


def test_without_an_smtp_host_the_server_mail_backend_is_used(
    make_settings, make_reminder, mailoutbox
):
    send_message(make_reminder(), make_settings(587, smtp_host=""))

    [sent] = mailoutbox
    assert sent.to == ["ann@example.com"]
    assert sent.alternatives[0][1] == "text/html"


def test_merchant_templates_override_the_shipped_ones(
    smtp_server, smtp_handler, make_settings, make_reminder, settings, tmp_path
):
    override = tmp_path / "saleor_retention_plugin/messages/tea-cn/cart/en/step_1.subject.txt"
    override.parent.mkdir(parents=True)
    override.write_text("{{ lines.0.product_name }} is waiting for you")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]

    send_message(make_reminder(), make_settings(smtp_server.port))

    assert smtp_handler.messages[0]["Subject"] == "Oolong Tea is waiting for you"
