"""Saleor's ``NOTIFY_USER``: Saleor's webhook plugin forwards the event to subscribed apps.

Saleor forwards any event name it does not know to apps as ``NOTIFY_USER`` with
``{"notify_event": <name>, "payload": <our payload>, "meta": ...}``; the app (a mail,
SMS or chat app) renders or forwards ``payload``. Delivery through the app is
asynchronous, so a successful hand-over is all we can confirm here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..base import (
    DeliveryReceipt,
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
    register_channel,
)
from ..payload import message_payload

if TYPE_CHECKING:
    from ...conf import ChannelSettings


def notify_event_name(flow: str) -> str:
    return f"retention_{flow}_reminder" if flow == "cart" else f"retention_{flow}"


@register_channel("notify")
def send_notify(message: OutgoingMessage, settings: ChannelSettings) -> DeliveryReceipt:
    from ...integrations.saleor.notify import notify_saleor_plugins

    payload = message_payload(message, settings, include_html=True)
    try:
        notify_saleor_plugins(notify_event_name(message.flow), payload, message.channel_slug)
    except ImportError as error:
        raise PermanentDeliveryError("The notify channel works only inside Saleor.") from error
    except Exception as error:  # the manager runs other plugins' code: hand over later
        raise TransientDeliveryError(f"Saleor's plugin manager failed: {error!r}.") from error
    return DeliveryReceipt(channel="notify", provider_message_id=None)
