"""The plugin's stored per-channel configuration, for periodic tasks (no hook passes it)."""

from __future__ import annotations

from typing import Any


def load_channel_configuration(channel_slug: str) -> tuple[bool, list[dict[str, Any]]] | None:
    """Whether the plugin is active in the channel and the ``[{"name", "value"}]`` list
    saved for it in the dashboard; None when the channel has no configuration row."""
    from saleor.plugins.models import PluginConfiguration

    from ...plugin import RetentionPlugin

    row = (
        PluginConfiguration.objects.filter(
            identifier=RetentionPlugin.PLUGIN_ID, channel__slug=channel_slug
        )
        .only("active", "configuration")
        .first()
    )
    return (row.active, list(row.configuration)) if row is not None else None
