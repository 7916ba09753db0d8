"""The rating page: ``/plugins/saleor.retention/rate/?token=...`` (satisfaction check).

GET shows the score the link carries with a button (a link scanner that follows every
link in an email must not rate anyone's order); POST records it (``services.care``).
One rating per order: a click on another score of the same message updates it, the same
score again changes nothing. A forged or altered link answers 400, an expired one 410, a
repeated one 200 with "already recorded"; none of them changes anything, none is a 500.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from .. import app_settings
from ..conf import ChannelSettings
from ..endpoints import route
from ..services.care import record_rating
from .language import MessageLanguage
from .rating_links import ExpiredRatingLink, InvalidRatingLink, read_rating_token
from .views import confirmation_page, page_language

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

STARS = {1: "★☆☆☆☆", 2: "★★☆☆☆", 3: "★★★☆☆", 4: "★★★★☆", 5: "★★★★★"}

COPY: dict[MessageLanguage, dict[str, str]] = {
    MessageLanguage.ENGLISH: {
        "confirm_title": "Rate your order {stars}",
        "confirm_body": "You chose {score} out of 5. Send this rating to the shop?",
        "confirm_button": "Send my rating",
        "done_title": "Thank you for your rating",
        "done_body": "We recorded {score} out of 5 for your order.",
        "low_body": "We recorded {score} out of 5. We are sorry: someone from the shop "
        "will get in touch to put it right.",
        "repeated_title": "Already recorded",
        "repeated_body": "Your rating of {score} out of 5 was already recorded; nothing changed.",
        "invalid_title": "This link does not work",
        "invalid_body": "This rating link is not valid or was changed, so nothing was recorded.",
        "expired_title": "This link has expired",
        "expired_body": "This rating link is too old, so nothing was recorded.",
        "error_title": "Something went wrong",
        "error_body": "Your rating could not be recorded just now. Please try again later.",
    },
    MessageLanguage.SIMPLIFIED_CHINESE: {
        "confirm_title": "为您的订单评分 {stars}",
        "confirm_body": "您选择了 {score} 分(满分 5 分)。要提交这个评分吗?",
        "confirm_button": "提交评分",
        "done_title": "感谢您的评分",
        "done_body": "我们已记录您的订单评分:{score} 分(满分 5 分)。",
        "low_body": "我们已记录您的评分:{score} 分。非常抱歉,店铺工作人员会尽快联系您处理。",
        "repeated_title": "评分已记录",
        "repeated_body": "您的 {score} 分评分此前已记录,没有任何更改。",
        "invalid_title": "链接无效",
        "invalid_body": "这个评分链接无效或已被修改,我们没有记录任何评分。",
        "expired_title": "链接已过期",
        "expired_body": "这个评分链接已过期,我们没有记录任何评分。",
        "error_title": "出了点问题",
        "error_body": "暂时无法记录您的评分,请稍后再试。",
    },
}


@route("rate")
def rating_view(plugin: Any, request: HttpRequest, rest: str) -> HttpResponse:
    language = page_language(request)
    copy = COPY[language]
    if request.method not in ("GET", "POST"):
        response = confirmation_page(request, language, copy, "invalid", status=405)
        response["Allow"] = "GET, POST"
        return response
    token = request.GET.get("token") or request.POST.get("token") or ""
    try:
        link = read_rating_token(token, now=timezone.now())
    except ExpiredRatingLink:
        return confirmation_page(request, language, copy, "expired", status=410)
    except InvalidRatingLink:
        return confirmation_page(request, language, copy, "invalid", status=400)
    filled = _filled(copy, link.score)
    if request.method == "GET":
        return confirmation_page(request, language, filled, "confirm", token=token)
    try:
        outcome = record_rating(link, _settings(link.channel_slug))
    except Exception:
        logger.exception("Recording a rating of order %s failed", link.order_id)
        return confirmation_page(request, language, filled, "error", status=503)
    if outcome.repeated:
        return confirmation_page(request, language, filled, "repeated")
    if outcome.low_score_announced:
        filled = {**filled, "done_body": filled["low_body"]}
    return confirmation_page(request, language, filled, "done")


def _filled(copy: dict[str, str], score: int) -> dict[str, str]:
    return {key: text.format(score=score, stars=STARS[score]) for key, text in copy.items()}


def _settings(channel_slug: str) -> ChannelSettings:
    # RETENTION_CHANNEL_SETTINGS_LOADER, inside Saleor the plugin's rows; else defaults.
    loader = app_settings.channel_settings_loader
    return (loader(channel_slug) if loader is not None else None) or ChannelSettings()
