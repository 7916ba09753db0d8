"""Sending a message through the channel the merchant configured.

Importing this module registers the built-in channels (``delivery.channels``); the
registry itself (``base.CHANNELS``, ``base.register_channel``) knows none of them, so the
channels can build on ``base`` without an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import channels  # noqa: F401  (registers the built-in channels)
from .base import CHANNELS, DeliveryReceipt, OutgoingMessage, TransientDeliveryError

if TYPE_CHECKING:
    from ..conf import ChannelSettings


def send_message(message: OutgoingMessage, settings: ChannelSettings) -> DeliveryReceipt:
    """Send through the channel configured for ``message.channel_slug``.

    Raises ``TransientDeliveryError`` or ``PermanentDeliveryError``; never anything else
    for a delivery problem.
    """
    name = str(settings.delivery.delivery_channel)
    channel = CHANNELS.get(name)
    if channel is None:
        # Transient: the app that registers it may simply not be loaded in this process yet.
        raise TransientDeliveryError(f"No delivery channel named {name!r} is installed.")
    return channel(message, settings)
