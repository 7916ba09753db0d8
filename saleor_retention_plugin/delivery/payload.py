"""The JSON document that the webhook and notify channels hand to other systems."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils import timezone

from .links import message_unsubscribe_url
from .rendering import render_message
from .tracking import message_events_url, message_link_tracker, track_links

if TYPE_CHECKING:
    from ..conf import ChannelSettings
    from .base import OutgoingMessage

PAYLOAD_VERSION = 1


def message_payload(
    message: OutgoingMessage, settings: ChannelSettings, *, include_html: bool
) -> dict[str, Any]:
    """Everything a gateway needs: who, what, the rendered copy and the raw context.

    Every link in the copy and in ``context`` is a tracked click link
    (``tracking.track_links``). ``events_url`` is where the gateway may report the
    message's delivery and open (``tracking_views.message_events_view``, signed like
    this payload with the webhook secret).
    """
    unsubscribe = message_unsubscribe_url(message, settings)
    links = message_link_tracker(message, settings, now=timezone.now())
    rendered = render_message(message, unsubscribe_url=unsubscribe, links=links)
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
        "context": {**track_links(message.context, links), "unsubscribe_url": unsubscribe},
        "events_url": message_events_url(settings),
    }
    if include_html:
        payload["html"] = rendered.html
    return payload
