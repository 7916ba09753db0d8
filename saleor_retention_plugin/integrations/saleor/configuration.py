"""A channel's stored plugin configuration, for work no hook hands it to. Imports Saleor."""

from __future__ import annotations

from typing import Any

from ...conf import ChannelSettings, stored_settings
from ...constants import PLUGIN_ID


def load_channel_configuration(channel_slug: str) -> tuple[bool, list[dict[str, Any]]] | None:
    """Whether the plugin is active in the channel, and its saved configuration.

    The configuration is the ``[{"name", "value"}]`` list saved for the channel in the
    dashboard; None when the channel has no configuration row.
    """
    from saleor.plugins.models import PluginConfiguration

    row = (
        PluginConfiguration.objects.filter(identifier=PLUGIN_ID, channel__slug=channel_slug)
        .only("active", "configuration")
        .first()
    )
    return (row.active, list(row.configuration)) if row is not None else None


def load_channel_settings(channel_slug: str) -> ChannelSettings | None:
    """The channel's settings when the plugin is active there, else None."""
    stored = load_channel_configuration(channel_slug)
    if stored is None or not stored[0]:
        return None
    return stored_settings(stored[1])
