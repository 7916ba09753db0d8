"""The unsubscribe page: ``/plugins/saleor.retention/unsubscribe/?token=...``.

GET shows a confirmation button (a link scanner that follows every link in an email
must not unsubscribe anyone); POST records the opt-out, which covers every channel of the
shop and every flow (``services.consent``). Mail clients that support
RFC 8058 POST ``List-Unsubscribe=One-Click`` to the same URL, with the token in the
query string, and get the same result. A bad token changes nothing and answers 400.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from ..domain.languages import first_of_accept_language
from ..endpoints import route
from ..services.consent import record_opt_out
from .language import MessageLanguage, message_language
from .unsubscribe import InvalidUnsubscribeToken, UnsubscribeRequest, read_unsubscribe_token

PAGE_TEMPLATE = "saleor_retention_plugin/unsubscribe/page.html"

COPY: dict[MessageLanguage, dict[str, str]] = {
    MessageLanguage.ENGLISH: {
        "confirm_title": "Unsubscribe from our messages?",
        "confirm_body": (
            "You will no longer receive cart reminders or offers from this shop, in any of "
            "its stores and currencies, at this email address or for your customer account. "
            "Order and account emails are not affected."
        ),
        "confirm_button": "Unsubscribe",
        "done_title": "You are unsubscribed",
        "done_body": (
            "You will no longer receive cart reminders or offers from this shop, in any of "
            "its stores and currencies, at this email address or for your customer account. "
            "Order and account emails are not affected."
        ),
        "invalid_title": "This link does not work",
        "invalid_body": (
            "This unsubscribe link is not valid or was changed, so nothing was changed. "
            "Please use the link from the email exactly as it came."
        ),
    },
    MessageLanguage.SIMPLIFIED_CHINESE: {
        "confirm_title": "确定退订吗?",
        "confirm_body": (
            "退订后,您将不再收到本店任何店铺、任何币种的购物车提醒和优惠消息,"
            "包括发往此邮箱地址和您的会员账户的消息。订单和账户相关邮件不受影响。"
        ),
        "confirm_button": "确认退订",
        "done_title": "已成功退订",
        "done_body": (
            "您将不再收到本店任何店铺、任何币种的购物车提醒和优惠消息,"
            "包括发往此邮箱地址和您的会员账户的消息。订单和账户相关邮件不受影响。"
        ),
        "invalid_title": "链接无效",
        "invalid_body": (
            "这个退订链接无效或已被修改,我们没有做任何更改。请直接使用邮件中的原始链接。"
        ),
    },
}


@route("unsubscribe")
def unsubscribe_view(plugin: Any, request: HttpRequest, rest: str) -> HttpResponse:
    language = _page_language(request)
    if request.method not in ("GET", "POST"):
        response = _page(request, language, "invalid", status=405)
        response["Allow"] = "GET, POST"
        return response
    token = request.GET.get("token") or request.POST.get("token") or ""
    try:
        unsubscribe = _read_token_for_channel(token, _channel_in_path(request))
    except InvalidUnsubscribeToken:
        return _page(request, language, "invalid", status=400)
    if request.method == "GET":
        return _page(request, language, "confirm", token=token)
    try:
        record_opt_out(
            unsubscribe.channel_slug,
            email=unsubscribe.email,
            customer_id=unsubscribe.customer_id,
            source="unsubscribe_link",
        )
    except ValueError:
        return _page(request, language, "invalid", status=400)
    return _page(request, language, "done")


def _channel_in_path(request: HttpRequest) -> str | None:
    """The channel of a ``/plugins/channel/<slug>/...`` request.

    None on the channel-less route that links use, where the signed token alone names the
    channel.
    """
    parts = request.path.strip("/").split("/")
    if len(parts) > 2 and parts[:2] == ["plugins", "channel"]:
        return parts[2]
    return None


def _read_token_for_channel(token: str, channel_slug: str | None) -> UnsubscribeRequest:
    unsubscribe = read_unsubscribe_token(token)
    # On a channel route, only that channel's links are honoured (links use the
    # channel-less route). Whichever route records it, the opt-out covers every channel.
    if channel_slug is not None and unsubscribe.channel_slug != channel_slug:
        raise InvalidUnsubscribeToken("This unsubscribe link belongs to another channel.")
    return unsubscribe


def _page_language(request: HttpRequest) -> MessageLanguage:
    requested = request.GET.get("lang")
    if requested:
        return message_language(requested)
    return message_language(first_of_accept_language(request.headers.get("Accept-Language")))


def _page(
    request: HttpRequest,
    language: MessageLanguage,
    state: str,
    *,
    status: int = 200,
    token: str = "",
) -> HttpResponse:
    return confirmation_page(request, language, COPY[language], state, status=status, token=token)


def page_language(request: HttpRequest) -> MessageLanguage:
    """The language of a page customers open from a message: ``?lang=``, else the browser's."""
    return _page_language(request)


def confirmation_page(
    request: HttpRequest,
    language: MessageLanguage,
    copy: dict[str, str],
    state: str,
    *,
    status: int = 200,
    token: str = "",
    continue_url: str = "",
) -> HttpResponse:
    """A small page for a link from a message.

    It shows ``copy[f"{state}_title"]`` and ``_body``; the ``confirm`` state shows a
    button (``copy["confirm_button"]``) that POSTs ``token`` back, so link scanners that
    GET every link in an email change nothing. ``continue_url`` (a link the plugin signed
    itself) is shown as a plain link labelled ``copy["continue_link"]``.
    """
    html = render_to_string(
        PAGE_TEMPLATE,
        {
            "state": state,
            "html_lang": "zh-Hans" if language is MessageLanguage.SIMPLIFIED_CHINESE else "en",
            "title": copy[f"{state}_title"],
            "body": copy[f"{state}_body"],
            "button": copy["confirm_button"],
            "token": token,
            "action": request.get_full_path(),
            "continue_url": continue_url,
            "continue_label": copy.get("continue_link", ""),
        },
    )
    response = HttpResponse(html, status=status, content_type="text/html; charset=utf-8")
    # The token identifies a customer; keep the page out of caches and referrers.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
