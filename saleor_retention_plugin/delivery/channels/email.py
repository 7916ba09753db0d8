"""Email through Django's mail framework, SMTP server taken from the plugin configuration.

Each message carries a ``Message-ID`` derived from its idempotency key, so a retry after
a crash between "sent" and "recorded" produces the same Message-ID, which mail systems
and the merchant can use to spot the duplicate.
"""

from __future__ import annotations

import hashlib
import smtplib
import socket
import ssl
from email.utils import parseaddr
from typing import TYPE_CHECKING

from django.conf import settings as django_settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.utils import timezone
from django.utils.html import escape

from ..base import (
    DeliveryError,
    DeliveryReceipt,
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
    register_channel,
)
from ..links import message_unsubscribe_url
from ..rendering import render_message
from ..tracking import message_link_tracker, message_open_pixel_url

if TYPE_CHECKING:
    from django.core.mail.backends.base import BaseEmailBackend

    from ...conf import ChannelSettings, DeliverySettings

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
SMTP_TIMEOUT_SECONDS = 15
IDEMPOTENCY_HEADER = "X-Retention-Idempotency-Key"


def smtp_connection(delivery: DeliverySettings) -> BaseEmailBackend:
    if not delivery.smtp_host:
        return get_connection(fail_silently=False)
    return get_connection(
        SMTP_BACKEND,
        fail_silently=False,
        host=delivery.smtp_host,
        port=delivery.smtp_port,
        username=delivery.smtp_username or None,
        password=delivery.smtp_password or None,
        use_tls=delivery.smtp_use_tls,
        use_ssl=delivery.smtp_use_ssl,
        timeout=SMTP_TIMEOUT_SECONDS,
    )


def stable_message_id(idempotency_key: str, sender: str) -> str:
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "saleor-retention.invalid"
    return f"<retention.{digest}@{domain}>"


def classify_smtp_error(error: BaseException) -> DeliveryError:
    """Transient unless the server said, with a 5xx, that this recipient will never work."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        detail = "; ".join(
            f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in error.recipients.items()
        )
        if codes and all(500 <= code < 600 for code in codes):
            return PermanentDeliveryError(f"The mail server refused the recipient ({detail}).")
        return TransientDeliveryError(f"The mail server deferred the recipient ({detail}).")
    if isinstance(error, smtplib.SMTPAuthenticationError):
        # Wrong credentials are the merchant's to fix; messages wait for that.
        return TransientDeliveryError(
            f"The mail server rejected the SMTP user name or password ({error.smtp_code})."
        )
    if isinstance(error, smtplib.SMTPResponseException):
        text = f"The mail server answered {error.smtp_code} {_text(error.smtp_error)}."
        if isinstance(error, smtplib.SMTPDataError | smtplib.SMTPSenderRefused) and (
            500 <= error.smtp_code < 600
        ):
            return PermanentDeliveryError(text)
        return TransientDeliveryError(text)
    if isinstance(error, smtplib.SMTPException | ssl.SSLError | socket.timeout | OSError):
        return TransientDeliveryError(f"Could not reach the mail server: {error!r}.")
    return TransientDeliveryError(f"Unexpected error while sending email: {error!r}.")


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def build_email(message: OutgoingMessage, settings: ChannelSettings) -> EmailMultiAlternatives:
    if not message.recipient_email:
        raise PermanentDeliveryError("The customer has no email address.")
    delivery = settings.delivery
    unsubscribe = message_unsubscribe_url(message, settings)
    now = timezone.now()
    rendered = render_message(
        message,
        unsubscribe_url=unsubscribe,
        links=message_link_tracker(message, settings, now=now),
    )
    sender = delivery.from_email or django_settings.DEFAULT_FROM_EMAIL
    email = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=sender,
        to=[message.recipient_email],
        reply_to=[delivery.reply_to] if delivery.reply_to else None,
        headers={
            "Message-ID": stable_message_id(message.idempotency_key, sender),
            IDEMPOTENCY_HEADER: message.idempotency_key,
            "List-Unsubscribe": f"<{unsubscribe}>",
            # RFC 8058: mail clients may unsubscribe with one POST, no page in between.
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Content-Language": "zh-Hans" if rendered.language.value == "zh_hans" else "en",
        },
    )
    html = with_open_pixel(rendered.html, message_open_pixel_url(message, settings, now=now))
    email.attach_alternative(html, "text/html")
    return email


def with_open_pixel(html: str, pixel_url: str) -> str:
    """``html`` with a 1x1 open-tracking image just before ``</body>`` (or at the end).

    Added here rather than in the templates, so a merchant's override that does not
    extend the shipped layout is tracked too.
    """
    image = (
        f'<img src="{escape(pixel_url)}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0;">'
    )
    closing = html.lower().rfind("</body>")
    if closing == -1:
        return html + image
    return html[:closing] + image + html[closing:]


@register_channel("email")
def send_email(message: OutgoingMessage, settings: ChannelSettings) -> DeliveryReceipt:
    email = build_email(message, settings)
    try:
        connection = smtp_connection(settings.delivery)
        sent = connection.send_messages([email])
    except DeliveryError:
        raise
    except Exception as error:  # the backend raises smtplib, ssl and socket errors
        raise classify_smtp_error(error) from error
    if not sent:
        raise TransientDeliveryError("The mail backend reported that nothing was sent.")
    return DeliveryReceipt(channel="email", provider_message_id=email.extra_headers["Message-ID"])
