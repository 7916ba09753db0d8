"""Reading the tracked click links (``delivery.tracking``) back out of a sent message."""

from __future__ import annotations

import re
from urllib.parse import unquote

from django.utils import timezone

from saleor_retention_plugin.delivery.tracking import CLICK_PATH, read_click_token

CLICK_TOKEN = re.compile(re.escape(CLICK_PATH) + r"\?token=([^\s\"<&]+)")


def tracked_targets(text: object) -> list[tuple[str, str]]:
    """``(kind, target)`` of every tracked click link in ``text`` (a mail body), in order."""
    now = timezone.now()
    tokens = CLICK_TOKEN.findall(str(text))
    links = (read_click_token(unquote(token), now=now) for token in tokens)
    return [(link.kind, link.target) for link in links]
