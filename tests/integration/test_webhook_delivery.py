"""Reminders posted as signed JSON to a real local HTTP server."""

import pytest

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.delivery import (
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
    send_message,
)
from saleor_retention_plugin.delivery.channels import webhook as webhook_channel

from .delivery_servers import WebhookReceiver, free_port

SECRET = "gateway-shared-secret-1234"


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_settings():
    def make(url):
        return ChannelSettings.from_configuration(
            {
                "delivery_channel": "webhook",
                "webhook_url": url,
                "webhook_secret": SECRET,
                "public_api_url": "https://api.tea.example",
            }
        )

    return make


@pytest.fixture
def reminder():
    return OutgoingMessage(
        idempotency_key="cart:tok-9:step:2",
        flow="cart",
        step=2,
        channel_slug="tea-cn",
        customer_id=None,
        recipient_email="guest@example.com",
        language="zh",
        context={
            "lines": [
                {
                    "product_name": "龙井",
                    "variant_name": "100 g",
                    "sku": "LJ-100",
                    "quantity": 3,
                    "unit_price": "88.00",
                    "currency": "CNY",
                    "image_url": "https://cdn.tea.example/lj.png",
                }
            ],
            "total": "264.00",
            "currency": "CNY",
            "checkout_url": "https://tea.example/checkout?token=tok-9",
            "coupon_code": "CART-5OFF",
        },
    )


@pytest.fixture
def short_timeouts(monkeypatch):
    monkeypatch.setattr(webhook_channel, "WEBHOOK_TIMEOUT_SECONDS", (1.0, 0.5))


def test_the_gateway_receives_signed_json_with_the_rendered_message(
    receiver, make_settings, reminder
):
    receipt = send_message(reminder, make_settings(receiver.url))

    [request] = receiver.received
    assert request.signed_with(SECRET)
    assert not request.signed_with("some-other-secret-value")
    assert request.idempotency_key == "cart:tok-9:step:2"
    payload = request.json
    assert payload["recipient_email"] == "guest@example.com"
    assert payload["message_language"] == "zh_hans"
    assert payload["subject"] == "还在犹豫吗?送您一张优惠券"
    assert "龙井(100 g):3 × ¥88.00 = ¥264.00" in payload["text"]  # noqa: RUF001
    assert payload["context"]["lines"][0]["sku"] == "LJ-100"
    assert payload["context"]["coupon_code"] == "CART-5OFF"
    assert payload["unsubscribe_url"].startswith(
        "https://api.tea.example/plugins/saleor.retention/unsubscribe/?token="
    )
    assert payload["context"]["unsubscribe_url"] == payload["unsubscribe_url"]
    assert "html" not in payload
    assert (receipt.channel, receipt.provider_message_id) == ("webhook", "gw-1")


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_a_failing_gateway_is_transient(receiver, make_settings, reminder, status):
    receiver.status = status

    with pytest.raises(TransientDeliveryError, match=str(status)):
        send_message(reminder, make_settings(receiver.url))


@pytest.mark.parametrize("status", [400, 401, 404])
def test_a_gateway_that_rejects_the_request_is_permanent(receiver, make_settings, reminder, status):
    receiver.status = status

    with pytest.raises(PermanentDeliveryError, match=str(status)):
        send_message(reminder, make_settings(receiver.url))


def test_a_gateway_that_times_out_is_transient_and_does_not_hold_the_worker(
    receiver, make_settings, reminder, short_timeouts
):
    receiver.delay_seconds = 2.0

    with pytest.raises(TransientDeliveryError, match="Could not reach the webhook"):
        send_message(reminder, make_settings(receiver.url))


def test_an_unreachable_gateway_is_transient(make_settings, reminder, short_timeouts):
    url = f"http://127.0.0.1:{free_port()}/hooks"

    with pytest.raises(TransientDeliveryError, match="Could not reach the webhook"):
        send_message(reminder, make_settings(url))


def test_a_retry_carries_the_same_idempotency_key(receiver, make_settings, reminder):
    receiver.status = 503
    with pytest.raises(TransientDeliveryError):
        send_message(reminder, make_settings(receiver.url))
    receiver.status = 202
    send_message(reminder, make_settings(receiver.url))

    assert [request.idempotency_key for request in receiver.received] == [
        "cart:tok-9:step:2",
        "cart:tok-9:step:2",
    ]
