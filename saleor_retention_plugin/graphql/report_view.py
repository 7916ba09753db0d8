"""The HTML retention report on the plugin's path, for staff with their Saleor token.

``GET /plugins/channel/<slug>/saleor.retention/report/?start=YYYY-MM-DD&end=YYYY-MM-DD
[&as_of=YYYY-MM-DD]`` with ``Authorization: Bearer <token>`` of staff (or an app) with
MANAGE_USERS answers the self-contained HTML report (``analytics_report.render_html``);
customers get 403, anonymous callers and bad tokens 401, bad dates 400.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from graphql import GraphQLError

from ..endpoints import route
from .analytics_report import parse_day, report_for


@route("report")
def html_report(plugin: Any, request: HttpRequest, path: str) -> HttpResponse:
    """The HTML report for staff with MANAGE_USERS (their Saleor token); others refused."""
    from ..analytics_report import ChartsUnavailable, render_html
    from .requestor import AuthenticationFailed
    from .view import requestor_resolver

    channel = getattr(plugin, "channel", None)
    if channel is None:
        return JsonResponse({"errors": [{"message": "Use the channel's path."}]}, status=404)
    if request.method != "GET":
        response = JsonResponse({"errors": [{"message": "Use GET."}]}, status=405)
        response["Allow"] = "GET"
        return response
    try:
        requestor = requestor_resolver()(request, channel.slug)
    except AuthenticationFailed as error:
        return JsonResponse({"errors": [{"message": error.message}]}, status=401)
    if not requestor.is_authenticated:
        return JsonResponse({"errors": [{"message": "Sign in with a staff token."}]}, status=401)
    if not requestor.can_manage_loyalty(channel.slug):
        return JsonResponse(
            {"errors": [{"message": "You need the MANAGE_USERS permission."}]}, status=403
        )
    try:
        figures = report_for(
            channel.slug, plugin.settings.ledger.timezone,
            parse_day(request.GET.get("start"), "start"), parse_day(request.GET.get("end"), "end"),
            parse_day(request.GET.get("as_of"), "as_of"), predict=True,
        )  # fmt: skip
        page = render_html(figures)
    except (GraphQLError, ValueError, ChartsUnavailable) as error:
        return JsonResponse({"errors": [{"message": str(error)}]}, status=400)
    return HttpResponse(page, content_type="text/html; charset=utf-8")
