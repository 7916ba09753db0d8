"""The notify channel reaches apps through Saleor's own NOTIFY_USER webhooks.

End to end inside a real Saleor: our channel calls the plugin manager, Saleor's
WebhookPlugin turns the event into a NOTIFY_USER delivery, and Saleor's webhook task
POSTs it to an app's endpoint, here a real HTTP server on 127.0.0.1.
"""

import json

import pytest
from saleor.webhook.event_types import WebhookEventAsyncType
from saleor.webhook.models import Webhook

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.delivery import OutgoingMessage, send_message
from tests.integration.delivery_servers import WebhookReceiver
from tests.integration.tracked_links import tracked_targets


@pytest.fixture
def app_endpoint():
    receiver = WebhookReceiver(status=200)
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def notify_user_webhook(webhook_app, app_endpoint):
    webhook = Webhook.objects.create(
        name="Retention messages", app=webhook_app, target_url=app_endpoint.url
    )
    webhook.events.create(event_type=WebhookEventAsyncType.NOTIFY_USER)
    return webhook


def test_a_cart_reminder_reaches_the_app_as_notify_user(
    settings, notify_user_webhook, app_endpoint, channel_USD, customer_user
):
    settings.PLUGINS = ["saleor.plugins.webhook.plugin.WebhookPlugin"]
    message = OutgoingMessage(
        idempotency_key="cart:tok-3:step:1",
        flow="cart",
        step=1,
        channel_slug=channel_USD.slug,
        customer_id=customer_user.pk,
        recipient_email=customer_user.email,
        language="zh-hans",
        context={
            "lines": [
                {
                    "product_name": "Oolong Tea",
                    "variant_name": "250 g",
                    "sku": "OOL-250",
                    "quantity": 1,
                    "unit_price": "12.50",
                    "currency": "USD",
                    "image_url": None,
                }
            ],
            "total": "12.50",
            "currency": "USD",
            "checkout_url": "https://tea.example/checkout?token=tok-3",
            "coupon_code": None,
        },
    )
    retention_settings = ChannelSettings.from_configuration(
        {"delivery_channel": "notify", "public_api_url": "https://api.tea.example"}
    )

    receipt = send_message(message, retention_settings)

    assert receipt.channel == "notify"
    [request] = app_endpoint.received
    delivered = json.loads(request.body)
    assert delivered["notify_event"] == "retention_cart_reminder"
    payload = delivered["payload"]
    assert payload["idempotency_key"] == "cart:tok-3:step:1"
    assert payload["recipient_email"] == customer_user.email
    assert payload["channel_slug"] == channel_USD.slug
    assert payload["subject"] == "您的购物车里还有商品未结算"
    assert "Oolong Tea" in payload["html"]
    # Through the click redirect on the plugin's path (delivery.tracking).
    assert tracked_targets(payload["context"]["checkout_url"]) == [
        ("checkout", "https://tea.example/checkout?token=tok-3")
    ]
    assert payload["unsubscribe_url"].startswith(
        "https://api.tea.example/plugins/saleor.retention/unsubscribe/"
    )
