"""A JSON POST signed with HMAC-SHA256, for SMS and chat gateways.

Headers: ``X-Retention-Timestamp`` (unix seconds), ``X-Retention-Signature``
(``sha256=<hex HMAC of "<timestamp>.<body>">``) and ``Idempotency-Key`` so the gateway
can drop the duplicate a retry may cause. Receivers verify with
``saleor_retention_plugin.delivery.signing.verify_signature``.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import requests

from ..base import (
    DeliveryReceipt,
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
    register_channel,
)
from ..payload import message_payload
from ..signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_body

if TYPE_CHECKING:
    from ...conf import ChannelSettings

# (connect, read): a slow gateway must not hold a Celery worker; the retry comes later.
WEBHOOK_TIMEOUT_SECONDS = (3.05, 10.0)
# 4xx answers that mean "not now" rather than "never".
RETRYABLE_CLIENT_ERRORS = frozenset({408, 409, 425, 429})


def classify_http_status(status: int, body_excerpt: str) -> None:
    """Raise the delivery error that an HTTP answer means; return for 2xx."""
    if 200 <= status < 300:
        return
    text = f"The webhook answered {status}: {body_excerpt[:200]!r}."
    if status >= 500 or status in RETRYABLE_CLIENT_ERRORS:
        raise TransientDeliveryError(text)
    raise PermanentDeliveryError(text)


@register_channel("webhook")
def send_webhook(message: OutgoingMessage, settings: ChannelSettings) -> DeliveryReceipt:
    delivery = settings.delivery
    if not delivery.webhook_url or not delivery.webhook_secret:
        raise PermanentDeliveryError(
            "Set the webhook URL and signing secret in the plugin settings."
        )
    body = json.dumps(
        message_payload(message, settings, include_html=False),
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign_body(delivery.webhook_secret, timestamp, body),
        IDEMPOTENCY_HEADER: message.idempotency_key,
        "User-Agent": "saleor-retention-plugin",
    }
    try:
        response = requests.post(
            delivery.webhook_url,
            data=body,
            headers=headers,
            timeout=WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as error:  # timeouts, refused connections, TLS errors
        raise TransientDeliveryError(f"Could not reach the webhook: {error!r}.") from error
    classify_http_status(response.status_code, response.text)
    provider_id = response.headers.get("X-Message-Id") or response.headers.get("X-Request-Id")
    return DeliveryReceipt(channel="webhook", provider_message_id=provider_id)
