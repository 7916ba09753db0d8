"""Signed tracking links: the click redirect and the email open pixel.

Every link a message carries (checkout, shop, product, recommendation, review and the
satisfaction check's rating links; never the unsubscribe link) is rewritten, when the
message is rendered for sending, into

    <public API address>/plugins/saleor.retention/click/?token=...

and an email's HTML part gets a 1x1 image

    <public API address>/plugins/saleor.retention/open/?token=...

A token is ``django.core.signing`` output, like the unsubscribe and rating links' (HMAC
with the server's SECRET_KEY, a salt of our own per kind of link), carrying the message's
idempotency key, the link kind, the target URL and the moment the link stops recording
(``LINK_MARGIN`` after the channel's attribution window: later clicks can no longer be
credited to the message anyway). The target is inside the signature, so the redirect
can only ever send a customer to a URL the plugin itself put in a message (no open
redirect); a forged or altered token is refused. Pure apart from ``django.core.signing``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from django.core import signing

if TYPE_CHECKING:
    from ..conf import ChannelSettings
    from .base import OutgoingMessage

CLICK_SALT = "saleor_retention_plugin.delivery.click"
OPEN_SALT = "saleor_retention_plugin.delivery.open"
# The channel-less plugin routes, like unsubscribe and rating links.
CLICK_PATH = "/plugins/saleor.retention/click/"
OPEN_PATH = "/plugins/saleor.retention/open/"
EVENTS_PATH = "/plugins/saleor.retention/message-events/"
# How long after the attribution window a link still records: a click a month after the
# window closed can no longer credit the message, and nobody needs it counted.
LINK_MARGIN = timedelta(days=30)

# Context keys whose value is a link, and the kind each is recorded as.
LINK_KEYS = {
    "checkout_url": "checkout",
    "shop_url": "shop",
    "review_url": "review",
    "product_url": "product",
}
# Context keys holding a card (or a list of cards) whose ``url`` is a link.
CARD_KEYS = {
    "product": "product",
    "products": "product",
    "recommendations": "recommendation",
    "rating_links": "rating",
}

# Every kind a click can be recorded as (``models.LinkKind``'s values).
LINK_KINDS = frozenset(LINK_KEYS.values()) | frozenset(CARD_KEYS.values())

LinkTracker = Callable[[str, str], str]  # (kind, target URL) -> the tracked URL


class InvalidTrackingLink(ValueError):
    """Forged, altered or malformed: nothing is recorded."""


class ExpiredTrackingLink(InvalidTrackingLink):
    """Genuine but past its recording life; ``link`` still names the signed target."""

    def __init__(self, message: str, link: TrackedLink):
        super().__init__(message)
        self.link = link


@dataclass(frozen=True)
class TrackedLink:
    """What a click token names: the message (its idempotency key), the link, the expiry."""

    message_key: str
    kind: str  # a ``models.LinkKind`` value
    target: str  # absolute http(s) URL
    expires_at: datetime


@dataclass(frozen=True)
class TrackedOpen:
    message_key: str
    expires_at: datetime


def is_trackable(url: Any) -> bool:
    """Only absolute http(s) links are wrapped; anything else stays as it is."""
    if not isinstance(url, str) or not url:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def click_url(base_url: str, link: TrackedLink) -> str:
    if not is_trackable(link.target):
        raise ValueError("Only absolute http(s) links can be tracked.")
    token = signing.dumps(
        {"m": link.message_key, "k": link.kind, "t": link.target, "x": _stamp(link.expires_at)},
        salt=CLICK_SALT,
        compress=True,
    )
    return f"{base_url.rstrip('/')}{CLICK_PATH}?{urlencode({'token': token})}"


def open_pixel_url(base_url: str, opening: TrackedOpen) -> str:
    token = signing.dumps(
        {"m": opening.message_key, "x": _stamp(opening.expires_at)}, salt=OPEN_SALT, compress=True
    )
    return f"{base_url.rstrip('/')}{OPEN_PATH}?{urlencode({'token': token})}"


def read_click_token(token: str, *, now: datetime) -> TrackedLink:
    """The link a genuine token names; ``InvalidTrackingLink`` / ``ExpiredTrackingLink``."""
    payload = _load(token, CLICK_SALT)
    try:
        link = TrackedLink(
            message_key=payload["m"],
            kind=payload["k"],
            target=payload["t"],
            expires_at=datetime.fromtimestamp(int(payload["x"]), tz=UTC),
        )
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        raise InvalidTrackingLink("This link is not valid.") from None
    if (
        not isinstance(link.message_key, str)
        or link.kind not in LINK_KINDS
        or not is_trackable(link.target)
    ):
        raise InvalidTrackingLink("This link is not valid.")
    if now >= link.expires_at:
        raise ExpiredTrackingLink("This link has expired.", link)
    return link


def read_open_token(token: str, *, now: datetime) -> TrackedOpen:
    payload = _load(token, OPEN_SALT)
    try:
        opening = TrackedOpen(
            message_key=payload["m"],
            expires_at=datetime.fromtimestamp(int(payload["x"]), tz=UTC),
        )
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        raise InvalidTrackingLink("This link is not valid.") from None
    if not isinstance(opening.message_key, str):
        raise InvalidTrackingLink("This link is not valid.")
    if now >= opening.expires_at:
        raise ExpiredTrackingLink(
            "This link has expired.", TrackedLink(opening.message_key, "", "", opening.expires_at)
        )
    return opening


def tracking_expiry(settings: ChannelSettings, now: datetime) -> datetime:
    """Until when a message's links record: the attribution window plus ``LINK_MARGIN``."""
    return now + settings.messaging.attribution_window + LINK_MARGIN


def message_link_tracker(
    message: OutgoingMessage, settings: ChannelSettings, *, now: datetime
) -> LinkTracker:
    """The function that turns ``(kind, target)`` into this message's tracked link.

    Raises ``PermanentDeliveryError`` when the shop's public address is not configured
    (every message needs it for its unsubscribe link anyway).
    """
    from .links import public_base_url

    base = public_base_url(settings)
    expires_at = tracking_expiry(settings, now)

    def track(kind: str, target: str) -> str:
        return click_url(base, TrackedLink(message.idempotency_key, kind, target, expires_at))

    return track


def message_open_pixel_url(
    message: OutgoingMessage, settings: ChannelSettings, *, now: datetime
) -> str:
    from .links import public_base_url

    return open_pixel_url(
        public_base_url(settings),
        TrackedOpen(message.idempotency_key, tracking_expiry(settings, now)),
    )


def message_events_url(settings: ChannelSettings) -> str:
    """Where a webhook gateway reports a message's delivery and open (``tracking_views``)."""
    from .links import public_base_url

    return f"{public_base_url(settings)}{EVENTS_PATH}"


def track_links(context: dict[str, Any], track: LinkTracker | None) -> dict[str, Any]:
    """A copy of a message context with every link (``LINK_KEYS``, ``CARD_KEYS``) tracked.

    Untrackable values (empty, relative, not http(s)) stay as they are; so does anything
    not named above, such as ``unsubscribe_url``.
    """
    if track is None:
        return dict(context)
    tracked = dict(context)
    for key, kind in LINK_KEYS.items():
        if is_trackable(tracked.get(key)):
            tracked[key] = track(kind, tracked[key])
    for key, kind in CARD_KEYS.items():
        value = tracked.get(key)
        if isinstance(value, dict):
            tracked[key] = _tracked_card(value, kind, track)
        elif isinstance(value, list):
            tracked[key] = [
                _tracked_card(card, kind, track) if isinstance(card, dict) else card
                for card in value
            ]
    return tracked


def _tracked_card(card: dict[str, Any], kind: str, track: LinkTracker) -> dict[str, Any]:
    if not is_trackable(card.get("url")):
        return card
    return {**card, "url": track(kind, card["url"])}


def _stamp(moment: datetime) -> int:
    return int(moment.timestamp())


def _load(token: str, salt: str) -> dict[str, Any]:
    try:
        payload = signing.loads(token, salt=salt)
    except signing.BadSignature:
        raise InvalidTrackingLink("This link is not valid.") from None
    if not isinstance(payload, dict):
        raise InvalidTrackingLink("This link is not valid.")
    return payload
