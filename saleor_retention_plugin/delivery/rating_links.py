"""Signed 1-5 rating links of the satisfaction check (post-purchase care, day 3).

A token is ``django.core.signing`` output (HMAC with the server's SECRET_KEY and a salt of
our own) carrying the channel, the order, the customer (id or email), the score and the
moment the link expires. Nobody without the key can forge one, change its score or
stretch its life; a link past its expiry is refused. Each of the five links of a message
names its own score.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.core import signing

from ..domain.care import MAX_SCORE, MIN_SCORE, valid_score
from .links import public_base_url

if TYPE_CHECKING:
    from ..conf import ChannelSettings

RATING_SALT = "saleor_retention_plugin.delivery.rating"
# The channel-less plugin route, like unsubscribe links: the token names the channel.
RATING_PATH = "/plugins/saleor.retention/rate/"


class InvalidRatingLink(ValueError):
    """Forged, altered or malformed: nothing is recorded."""


class ExpiredRatingLink(InvalidRatingLink):
    """Genuine but past its expiry: nothing is recorded."""


@dataclass(frozen=True)
class RatingLink:
    channel_slug: str
    order_id: str
    customer_id: int | None
    email: str | None
    score: int
    expires_at: datetime


def rating_token(link: RatingLink) -> str:
    if not valid_score(link.score):
        raise ValueError(f"A score is {MIN_SCORE} to {MAX_SCORE}.")
    if not link.email and link.customer_id is None:
        raise ValueError("A rating link needs an email or a customer id.")
    payload = {
        "c": link.channel_slug,
        "o": link.order_id,
        "u": link.customer_id,
        "e": (link.email or "").strip().lower() or None,
        "s": link.score,
        "x": int(link.expires_at.timestamp()),
    }
    return signing.dumps(payload, salt=RATING_SALT, compress=True)


def rating_urls(
    base_url: str,
    *,
    channel_slug: str,
    order_id: str,
    customer_id: int | None,
    email: str | None,
    expires_at: datetime,
    language: str | None = None,
) -> dict[int, str]:
    """Score (1-5) -> the public link that rates the order with that score."""
    urls = {}
    for score in range(MIN_SCORE, MAX_SCORE + 1):
        token = rating_token(
            RatingLink(channel_slug, order_id, customer_id, email, score, expires_at)
        )
        query = {"token": token, **({"lang": language} if language else {})}
        urls[score] = f"{base_url.rstrip('/')}{RATING_PATH}?{urlencode(query)}"
    return urls


def read_rating_token(token: str, *, now: datetime) -> RatingLink:
    """What a genuine, unexpired token names; ``InvalidRatingLink`` / ``ExpiredRatingLink``."""
    try:
        payload = signing.loads(token, salt=RATING_SALT)
    except signing.BadSignature:
        raise InvalidRatingLink("This rating link is not valid.") from None
    try:
        link = RatingLink(
            channel_slug=payload["c"],
            order_id=payload["o"],
            customer_id=payload["u"],
            email=payload["e"],
            score=payload["s"],
            expires_at=datetime.fromtimestamp(int(payload["x"]), tz=UTC),
        )
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        raise InvalidRatingLink("This rating link is not valid.") from None
    if (
        not isinstance(link.channel_slug, str)
        or not isinstance(link.order_id, str)
        or not valid_score(link.score)
    ):
        raise InvalidRatingLink("This rating link is not valid.")
    if now >= link.expires_at:
        raise ExpiredRatingLink("This rating link has expired.")
    return link


def satisfaction_rating_urls(
    settings: ChannelSettings,
    *,
    channel_slug: str,
    order_id: str,
    customer_id: int | None,
    email: str | None,
    now: datetime,
    language: str | None = None,
) -> dict[int, str]:
    """The five links of a satisfaction message, valid ``care_rating_link_days`` from ``now``.

    Raises ``PermanentDeliveryError`` when the shop's public address is not configured.
    """
    return rating_urls(
        public_base_url(settings),
        channel_slug=channel_slug,
        order_id=order_id,
        customer_id=customer_id,
        email=email,
        expires_at=now + settings.care.rating_link_lifetime,
        language=language,
    )
