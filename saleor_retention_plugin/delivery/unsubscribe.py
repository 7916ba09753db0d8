"""Signed unsubscribe links.

A token is ``django.core.signing`` output (HMAC with the server's SECRET_KEY and a salt
of our own), compact, carrying the channel slug and the customer id or email. Without
the key nobody can forge one or walk through customer ids. Tokens do not expire on
purpose: an unsubscribe link in a year-old email must still work.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.core import signing

UNSUBSCRIBE_SALT = "saleor_retention_plugin.delivery.unsubscribe"
# Saleor's channel-less plugin route: unlike /plugins/channel/<slug>/..., it answers even
# when the merchant has since switched the plugin off in that channel, and an unsubscribe
# link in an old email must keep working. The channel is in the signed token.
PLUGIN_PATH = "/plugins/saleor.retention/unsubscribe/"


class InvalidUnsubscribeToken(ValueError):
    pass


@dataclass(frozen=True)
class UnsubscribeRequest:
    channel_slug: str
    email: str | None
    customer_id: int | None


def unsubscribe_token(channel_slug: str, email: str | None, customer_id: int | None) -> str:
    if not email and customer_id is None:
        raise ValueError("An unsubscribe link needs an email or a customer id.")
    payload = {"c": channel_slug, "e": (email or "").strip().lower() or None, "u": customer_id}
    return signing.dumps(payload, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_url(
    base_url: str,
    channel_slug: str,
    email: str | None,
    customer_id: int | None,
    *,
    language: str | None = None,
) -> str:
    """The public link to opt out of the shop's marketing, served by Saleor.

    The opt-out covers every channel of the shop (``services.consent``); ``channel_slug``,
    signed in the token, records the channel the message came from.

    ``language`` only picks the language of the confirmation page; it is not signed
    because changing it changes nothing but the words on that page.
    """
    token = unsubscribe_token(channel_slug, email, customer_id)
    path = PLUGIN_PATH
    query = {"token": token, **({"lang": language} if language else {})}
    return f"{base_url.rstrip('/')}{path}?{urlencode(query)}"


def read_unsubscribe_token(token: str) -> UnsubscribeRequest:
    """Check the signature and return what the token names; ``InvalidUnsubscribeToken`` if not."""
    try:
        payload = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        raise InvalidUnsubscribeToken("This unsubscribe link is not valid.") from None
    try:
        channel_slug = payload["c"]
        email = payload["e"]
        customer_id = payload["u"]
    except (KeyError, TypeError):
        raise InvalidUnsubscribeToken("This unsubscribe link is not valid.") from None
    if not isinstance(channel_slug, str) or not (email or customer_id is not None):
        raise InvalidUnsubscribeToken("This unsubscribe link is not valid.")
    return UnsubscribeRequest(channel_slug=channel_slug, email=email, customer_id=customer_id)
