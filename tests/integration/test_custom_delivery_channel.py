"""Another app can add its own delivery channel and merchants can choose it."""

import pytest

from saleor_retention_plugin.conf import ChannelSettings, InvalidConfiguration
from saleor_retention_plugin.delivery import (
    DeliveryReceipt,
    OutgoingMessage,
    TransientDeliveryError,
    send_message,
)
from saleor_retention_plugin.delivery.base import CHANNELS, register_channel


@pytest.fixture
def wechat_outbox():
    sent = []

    @register_channel("wechat")
    def send_wechat(message, settings):
        sent.append(message)
        return DeliveryReceipt(channel="wechat", provider_message_id=f"wx-{len(sent)}")

    yield sent
    del CHANNELS["wechat"]


def message():
    return OutgoingMessage(
        idempotency_key="cart:t:step:1",
        flow="cart",
        step=1,
        channel_slug="tea",
        customer_id=1,
        recipient_email=None,
        language="zh",
        context={},
    )


def test_a_registered_channel_can_be_chosen_and_receives_the_messages(wechat_outbox):
    settings = ChannelSettings.from_configuration({"delivery_channel": "wechat"})

    receipt = send_message(message(), settings)

    assert receipt == DeliveryReceipt(channel="wechat", provider_message_id="wx-1")
    assert wechat_outbox == [message()]


def test_an_unknown_channel_is_refused_with_the_choices():
    with pytest.raises(InvalidConfiguration) as raised:
        ChannelSettings.from_configuration({"delivery_channel": "carrier-pigeon"})

    assert raised.value.errors["delivery_channel"] == "Choose one of: email, notify, webhook."


def test_a_channel_whose_app_is_gone_holds_messages_instead_of_dropping_them():
    register_channel("wechat")(lambda message, settings: DeliveryReceipt(channel="wechat"))
    settings = ChannelSettings.from_configuration({"delivery_channel": "wechat"})
    del CHANNELS["wechat"]  # e.g. a worker that does not load the app

    with pytest.raises(TransientDeliveryError, match="wechat"):
        send_message(message(), settings)


def test_a_stored_custom_channel_is_kept_by_lenient_parsing_not_replaced_by_email():
    settings = ChannelSettings.from_configuration({"delivery_channel": "wechat"}, strict=False)

    assert settings.delivery.delivery_channel == "wechat"
    with pytest.raises(TransientDeliveryError, match="wechat"):
        send_message(message(), settings)
