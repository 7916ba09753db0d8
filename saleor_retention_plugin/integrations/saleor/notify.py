"""Hand a message to Saleor's plugins with ``manager.notify``. Imports Saleor."""

from __future__ import annotations

from typing import Any


def notify_saleor_plugins(event: str, payload: dict[str, Any], channel_slug: str) -> None:
    from saleor.plugins.manager import get_plugins_manager

    manager = get_plugins_manager(allow_replica=False)
    manager.notify(event, payload_func=lambda: payload, channel_slug=channel_slug)
