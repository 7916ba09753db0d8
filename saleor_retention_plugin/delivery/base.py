"""The contract between the flow engine and the delivery channels.

The engine builds an ``OutgoingMessage`` (JSON-native: it can be stored in the outbox
and rebuilt in a worker) and calls ``sending.send_message``; the configured channel turns it
into an email, a Saleor ``NOTIFY_USER`` event or a signed webhook. A channel reports
failure with exactly one of two exceptions, so the engine knows whether to retry:

- ``TransientDeliveryError``: nothing was delivered for sure and trying again later may
  work (connection refused, timeout, SMTP 4xx, HTTP 5xx). The engine keeps the claim
  and retries with backoff; the idempotency key lets the receiver drop a duplicate if
  the first attempt did get through after all.
- ``PermanentDeliveryError``: trying again will not help (recipient refused, HTTP 4xx,
  no address). The engine gives up on this message and records ``reason``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..conf import ChannelSettings


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to one customer, as the engine hands it to delivery.

    ``context`` is JSON-native. For cart reminders it holds ``lines`` (a list of
    ``{product_name, variant_name, sku, quantity, unit_price, currency, image_url}``
    with prices as strings), ``total`` (str), ``currency``, ``checkout_url`` and
    ``coupon_code`` (or None). Delivery adds the unsubscribe URL itself.
    """

    idempotency_key: str
    flow: str  # "cart" first; later "welcome", "post_purchase", "replenishment", ...
    step: int  # 1-based position in the flow's series
    channel_slug: str
    customer_id: int | None
    recipient_email: str | None
    language: str  # the customer's language code as Saleor stores it, e.g. "en", "zh-hans"
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryReceipt:
    channel: str  # "email", "notify" or "webhook"
    provider_message_id: str | None = None


class DeliveryError(Exception):
    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class TransientDeliveryError(DeliveryError):
    """Not delivered; retry later."""


class PermanentDeliveryError(DeliveryError):
    """Not delivered and never will be; give up and record ``reason``."""


DeliveryChannel = Callable[[OutgoingMessage, "ChannelSettings"], DeliveryReceipt]

CHANNELS: dict[str, DeliveryChannel] = {}


def register_channel(name: str) -> Callable[[DeliveryChannel], DeliveryChannel]:
    """Register a channel under the name merchants choose in the ``delivery_channel`` setting.

    Another Django app adds its own channel (say ``"wechat"``) by decorating a function
    ``(OutgoingMessage, ChannelSettings) -> DeliveryReceipt`` in its ``AppConfig.ready``;
    the setting then accepts that name. The function must raise only
    ``TransientDeliveryError`` or ``PermanentDeliveryError`` for delivery problems.
    """

    def register(channel: DeliveryChannel) -> DeliveryChannel:
        CHANNELS[name] = channel
        return channel

    return register
