"""URLs for tests that go through Django's whole request cycle (the test client), routed to
the plugin the way Saleor routes ``/plugins/channel/<slug>/<plugin-id>/<path>``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from django.urls import path

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.endpoints import route_plugin_request

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


def plugin_view(request: HttpRequest, channel_slug: str, rest: str) -> HttpResponse:
    plugin: Any = SimpleNamespace(
        channel=SimpleNamespace(slug=channel_slug), settings=ChannelSettings()
    )
    return route_plugin_request(plugin, request, rest)


urlpatterns = [
    path("plugins/channel/<slug:channel_slug>/saleor.retention/<path:rest>", plugin_view),
]
