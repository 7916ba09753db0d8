"""Absolute links that go into messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings as django_settings

from .base import OutgoingMessage, PermanentDeliveryError
from .language import message_language
from .unsubscribe import unsubscribe_url

if TYPE_CHECKING:
    from ..conf import ChannelSettings


def public_base_url(settings: ChannelSettings) -> str:
    """Where customers reach the Saleor API: the plugin setting, else Saleor's PUBLIC_URL."""
    base = settings.delivery.public_api_url or getattr(django_settings, "PUBLIC_URL", None) or ""
    if not base:
        raise PermanentDeliveryError(
            "Set 'Public address of your Saleor API' in the plugin configuration "
            "(or PUBLIC_URL on the Saleor server): every message needs an unsubscribe link."
        )
    return str(base).rstrip("/")


def message_unsubscribe_url(message: OutgoingMessage, settings: ChannelSettings) -> str:
    if not message.recipient_email and message.customer_id is None:
        raise PermanentDeliveryError("The message names neither an email nor a customer.")
    return unsubscribe_url(
        public_base_url(settings),
        message.channel_slug,
        message.recipient_email,
        message.customer_id,
        language=message_language(message.language).value,
    )
