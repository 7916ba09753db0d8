"""HTTP endpoints served under the plugin's path, routed by the first path segment.

Saleor hands every request to ``/plugins/channel/<slug>/saleor.retention/<path>`` to
``RetentionPlugin.webhook``; ``ROUTES`` maps the first segment of ``<path>`` to a view
``(plugin, request, rest_of_path) -> HttpResponse``. Views import Saleor only through
``integrations.saleor``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse, JsonResponse

if TYPE_CHECKING:
    from .plugin import RetentionPlugin

PluginView = Callable[["RetentionPlugin", HttpRequest, str], HttpResponse]

ROUTES: dict[str, PluginView] = {}

# Modules whose views register themselves with ``@route``; imported on the first request
# so that loading the plugin class stays cheap.
VIEW_MODULES: tuple[str, ...] = (
    "saleor_retention_plugin.graphql.view",
    "saleor_retention_plugin.graphql.report_view",
    "saleor_retention_plugin.delivery.views",
    "saleor_retention_plugin.delivery.rating_views",
    "saleor_retention_plugin.delivery.tracking_views",
)


def route(segment: str) -> Callable[[PluginView], PluginView]:
    def register(view: PluginView) -> PluginView:
        ROUTES[segment] = view
        return view

    return register


def route_plugin_request(plugin: Any, request: HttpRequest, path: str) -> HttpResponse:
    for module in VIEW_MODULES:
        importlib.import_module(module)
    segment, _, rest = path.strip("/").partition("/")
    view = ROUTES.get(segment)
    if view is None:
        return JsonResponse({"errors": [{"message": f"No such endpoint: {path!r}."}]}, status=404)
    return view(plugin, request, rest)
