"""The plugin's stored per-channel configuration, for periodic tasks (no hook passes it)."""

from __future__ import annotations

from typing import Any


def load_channel_configuration(channel_slug: str) -> list[dict[str, Any]] | None:
    """The ``[{"name", "value"}]`` list saved for the channel in the dashboard, if any."""
    from saleor.plugins.models import PluginConfiguration

    from ...plugin import RetentionPlugin

    row = (
        PluginConfiguration.objects.filter(
            identifier=RetentionPlugin.PLUGIN_ID, channel__slug=channel_slug
        )
        .only("configuration")
        .first()
    )
    return list(row.configuration) if row is not None else None
