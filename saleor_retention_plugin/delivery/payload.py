"""The JSON document that the webhook and notify channels hand to other systems."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .links import message_unsubscribe_url
from .rendering import render_message

if TYPE_CHECKING:
    from ..conf import ChannelSettings
    from .base import OutgoingMessage

PAYLOAD_VERSION = 1


def message_payload(
    message: OutgoingMessage, settings: ChannelSettings, *, include_html: bool
) -> dict[str, Any]:
    """Everything a gateway needs: who, what, the rendered copy and the raw context."""
    unsubscribe = message_unsubscribe_url(message, settings)
    rendered = render_message(message, unsubscribe_url=unsubscribe)
    payload: dict[str, Any] = {
        "version": PAYLOAD_VERSION,
        "idempotency_key": message.idempotency_key,
        "flow": message.flow,
        "step": message.step,
        "channel_slug": message.channel_slug,
        "customer_id": message.customer_id,
        "recipient_email": message.recipient_email,
        "language_code": message.language,
        "message_language": rendered.language.value,
        "subject": rendered.subject,
        "text": rendered.text,
        "unsubscribe_url": unsubscribe,
        "context": {**message.context, "unsubscribe_url": unsubscribe},
    }
    if include_html:
        payload["html"] = rendered.html
    return payload
