"""A channel's plugin settings, read from Saleor's plugin configuration. Imports Saleor."""

from __future__ import annotations

from ...conf import ChannelSettings


def load_channel_settings(channel_slug: str) -> ChannelSettings | None:
    """The channel's settings when the plugin is active there, else None."""
    from saleor.plugins.models import PluginConfiguration

    from ...plugin import RetentionPlugin

    row = (
        PluginConfiguration.objects.filter(
            identifier=RetentionPlugin.PLUGIN_ID, channel__slug=channel_slug, active=True
        )
        .only("configuration")
        .first()
    )
    if row is None:
        return None
    return ChannelSettings.from_configuration(row.configuration, strict=False)
