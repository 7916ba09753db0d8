"""What every resolver of the loyalty API gets as ``info.context``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.utils import timezone

if TYPE_CHECKING:
    from datetime import datetime

    from ..conf import ChannelSettings
    from .requestor import Requestor


@dataclass
class LoyaltyContext:
    channel_slug: str
    settings: ChannelSettings
    requestor: Requestor
    request: Any = None
    # Preferred language of texts ("zh-Hans", "en"), from the Accept-Language header.
    language: str | None = None
    # One clock per request, so every field of a response agrees on "now".
    now: datetime = field(default_factory=timezone.now)
    # Per-request memo (e.g. the channel's tiers), so a field asked for on many
    # accounts costs its queries once.
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def can_manage(self) -> bool:
        return self.requestor.can_manage_loyalty(self.channel_slug)
