"""Which of the plugin's message languages a customer reads. Pure: no Django.

The choice is ``domain.languages.best_language``, the rule the API follows too, over the
languages we have message templates in.
"""

from __future__ import annotations

import enum

from ..domain.languages import best_language


class MessageLanguage(enum.StrEnum):
    ENGLISH = "en"
    SIMPLIFIED_CHINESE = "zh_hans"  # also the template folder name


# The template languages as language codes, English (the default) first.
_TEMPLATE_CODES = {"en": MessageLanguage.ENGLISH, "zh-Hans": MessageLanguage.SIMPLIFIED_CHINESE}


def message_language(language_code: str | None) -> MessageLanguage:
    """Map a customer's language code (``zh``, ``zh-hans``, ``zh_CN``, ``zh-Hans-CN``) to ours.

    Any form of Simplified Chinese gets Chinese; everything else, including traditional
    Chinese (``zh-TW``, ``zh-HK``: no copy yet) and an empty or unknown code, gets English.
    """
    chosen = best_language(language_code, _TEMPLATE_CODES)
    return _TEMPLATE_CODES[chosen or "en"]
