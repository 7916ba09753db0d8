"""Which of the plugin's message languages a customer reads. Pure: no Django."""

from __future__ import annotations

import enum


class MessageLanguage(enum.StrEnum):
    ENGLISH = "en"
    SIMPLIFIED_CHINESE = "zh_hans"  # also the template folder name


# Chinese written in traditional characters; we have no copy for it yet, and sending
# simplified characters to a Taiwanese or Hong Kong customer reads as careless.
_TRADITIONAL_CHINESE_MARKERS = frozenset({"hant", "tw", "hk", "mo"})


def message_language(language_code: str | None) -> MessageLanguage:
    """Map a customer's language code (``zh``, ``zh-hans``, ``zh_CN``, ``zh-Hans-CN``) to ours.

    Any form of Simplified Chinese gets Chinese; everything else, including an empty or
    unknown code, gets English.
    """
    parts = (language_code or "").strip().lower().replace("_", "-").split("-")
    if parts[0] != "zh":
        return MessageLanguage.ENGLISH
    if _TRADITIONAL_CHINESE_MARKERS.intersection(parts[1:]) and "hans" not in parts[1:]:
        return MessageLanguage.ENGLISH
    return MessageLanguage.SIMPLIFIED_CHINESE
