"""Delivery of flow messages: email, Saleor NOTIFY_USER and signed webhooks."""

from .base import (
    DeliveryReceipt,
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from .sending import send_message

__all__ = [
    "DeliveryReceipt",
    "OutgoingMessage",
    "PermanentDeliveryError",
    "TransientDeliveryError",
    "send_message",
]
