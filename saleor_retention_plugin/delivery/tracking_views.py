"""The tracking endpoints on the plugin's path (``delivery.tracking`` builds the links).

``GET /plugins/saleor.retention/click/?token=...`` records a click on the link the token
names (``services.engagement.record_click``) and answers 302 to the link's target, which
is inside the signature. A link scanner that fetches every link of an email can do
nothing worse than record a click (and is counted like a customer: the report counts
messages with a click, so one scanner pass is one clicked message). ``HEAD`` redirects
without recording. Forged or altered: 400; past its recording life: 410 with a plain
link to the target (nothing recorded); the database down: 503; never a 500.

``GET /plugins/saleor.retention/open/?token=...`` is an email's 1x1 open pixel: the
message's first open is recorded, the answer is a transparent GIF (400/410/503 as above).

``POST /plugins/saleor.retention/message-events/`` is for webhook gateways (SMS, chat)
that know when a message was delivered or read. The body is JSON
``{"idempotency_key": <the payload's>, "event": "delivered" | "opened"}``, signed like
the outgoing webhook (``X-Retention-Timestamp``, ``X-Retention-Signature`` over
``<timestamp>.<body>`` with the channel's webhook secret, 5 minutes' tolerance). The first
report of each event is recorded at its arrival; repeats change nothing. Answers 200
``{"recorded": true}``, 400 for a malformed body or event, 403 when the signature does not
verify or the message is unknown (the same answer, so the endpoint cannot probe keys),
405 for other methods, 503 when the database is down.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import TYPE_CHECKING, Any

from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils import timezone

from ..conf import ChannelSettings
from ..endpoints import route
from ..models import FlowMessage
from ..services import engagement
from .language import MessageLanguage
from .signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from .tracking import (
    ExpiredTrackingLink,
    InvalidTrackingLink,
    read_click_token,
    read_open_token,
)
from .views import confirmation_page, page_language

if TYPE_CHECKING:
    from django.http import HttpRequest

logger = logging.getLogger(__name__)

# A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
MAX_EVENT_BODY_BYTES = 4096

COPY: dict[MessageLanguage, dict[str, str]] = {
    MessageLanguage.ENGLISH: {
        "confirm_button": "",
        "continue_link": "Continue to the shop",
        "invalid_title": "This link does not work",
        "invalid_body": "This link is not valid or was changed.",
        "expired_title": "This link has expired",
        "expired_body": "This link from one of our messages is too old to follow directly.",
        "error_title": "Something went wrong",
        "error_body": "This link cannot be opened just now. Please try again in a moment.",
    },
    MessageLanguage.SIMPLIFIED_CHINESE: {
        "confirm_button": "",
        "continue_link": "继续前往店铺",
        "invalid_title": "链接无效",
        "invalid_body": "这个链接无效或已被修改。",
        "expired_title": "链接已过期",
        "expired_body": "这个来自我们消息的链接已过期,无法直接打开。",
        "error_title": "出了点问题",
        "error_body": "暂时无法打开这个链接,请稍后再试。",
    },
}


@route("click")
def click_view(plugin: Any, request: HttpRequest, rest: str) -> HttpResponse:
    language = page_language(request)
    copy = COPY[language]
    if request.method not in ("GET", "HEAD"):
        response = confirmation_page(request, language, copy, "invalid", status=405)
        response["Allow"] = "GET, HEAD"
        return response
    now = timezone.now()
    try:
        link = read_click_token(request.GET.get("token") or "", now=now)
    except ExpiredTrackingLink as expired:
        return confirmation_page(
            request, language, copy, "expired", status=410, continue_url=expired.link.target
        )
    except InvalidTrackingLink:
        return confirmation_page(request, language, copy, "invalid", status=400)
    if request.method == "GET":
        try:
            engagement.record_click(link, now=now)
        except Exception:
            logger.exception("Recording a click on message %s failed", link.message_key)
            return confirmation_page(request, language, copy, "error", status=503)
    return _no_store(HttpResponseRedirect(link.target))


@route("open")
def open_view(plugin: Any, request: HttpRequest, rest: str) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse(status=405)
        response["Allow"] = "GET, HEAD"
        return response
    now = timezone.now()
    try:
        opening = read_open_token(request.GET.get("token") or "", now=now)
    except ExpiredTrackingLink:
        return _pixel(status=410)
    except InvalidTrackingLink:
        return _pixel(status=400)
    if request.method == "GET":
        try:
            engagement.record_open(opening.message_key, now=now)
        except Exception:
            logger.exception("Recording an open of message %s failed", opening.message_key)
            return _pixel(status=503)
    return _pixel()


@route("message-events")
def message_events_view(plugin: Any, request: HttpRequest, rest: str) -> HttpResponse:
    if request.method != "POST":
        response = _error("Report events with POST.", 405)
        response["Allow"] = "POST"
        return response
    body = request.body
    if len(body) > MAX_EVENT_BODY_BYTES:
        return _error("The body is too large.", 400)
    try:
        event = json.loads(body)
        message_key, kind = event["idempotency_key"], event["event"]
    except (ValueError, TypeError, KeyError):
        return _error('Send {"idempotency_key": ..., "event": "delivered" | "opened"}.', 400)
    if not isinstance(message_key, str) or kind not in engagement.REPORTED_EVENTS:
        return _error('"event" must be "delivered" or "opened".', 400)
    try:
        secret = _webhook_secret(message_key)
        if not secret or not verify_signature(
            secret,
            body,
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER),
        ):
            return _error("The signature does not verify.", 403)
        engagement.record_reported_event(message_key, kind, now=timezone.now())
    except Exception:
        logger.exception("Recording a reported %s of message %s failed", kind, message_key)
        return _error("The event could not be recorded just now; send it again later.", 503)
    return JsonResponse({"recorded": True})


def _webhook_secret(message_key: str) -> str:
    """The webhook secret of the channel the message was sent in ("" if none, or no message)."""
    from ..services.flows import channel_settings_loader

    channel_slug = (
        FlowMessage.objects.filter(idempotency_key=message_key)
        .values_list("channel_slug", flat=True)
        .first()
    )
    if channel_slug is None:
        return ""
    settings = channel_settings_loader()(channel_slug) or ChannelSettings()
    return settings.delivery.webhook_secret or ""


def _pixel(status: int = 200) -> HttpResponse:
    return _no_store(HttpResponse(PIXEL, status=status, content_type="image/gif"))


def _error(message: str, status: int) -> HttpResponse:
    return _no_store(JsonResponse({"errors": [{"message": message}]}, status=status))


def _no_store(response: HttpResponse) -> HttpResponse:
    # Tokens identify a message; keep them out of caches and referrers.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
