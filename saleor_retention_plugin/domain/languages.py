"""Which language a customer reads: the one rule for the API and the messages.

Pure: no Django. ``best_language(requested, available)`` answers it for any set of texts
(a tier's or reward's names, an error's English and Chinese, the message templates), so
the API and the emails can never disagree. Codes are BCP 47 tags in any case, with ``-``
or ``_`` (``zh-Hans``, ``zh_CN``, ``en-GB``).

Chinese is matched by script, not only by language: ``zh``, ``zh-Hans``, ``zh-CN`` and
``zh-SG`` read simplified characters; ``zh-Hant``, ``zh-TW``, ``zh-HK`` and ``zh-MO`` read
traditional ones and are never given simplified text (it reads as careless there): with
no traditional text they get the default language (English).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

DEFAULT_LANGUAGE = "en"

# Subtags that mark Chinese written in traditional characters.
_TRADITIONAL_CHINESE_MARKERS = frozenset({"hant", "tw", "hk", "mo"})


def normalise(code: str) -> str:
    """``code`` lower-cased, trimmed, with ``-`` between subtags (``zh_CN`` -> ``zh-cn``)."""
    return code.strip().replace("_", "-").lower()


def first_of_accept_language(header: str | None) -> str | None:
    """The first language of an ``Accept-Language`` header (``"zh-TW,en;q=0.5"`` -> ``zh-TW``).

    None when the header is missing or empty; quality values are not weighed.
    """
    first = (header or "").split(",")[0].split(";")[0].strip()
    return first or None


def _family(code: str) -> tuple[str, str | None]:
    """``(language, script)``: the script only tells Chinese apart (``hans``/``hant``)."""
    parts = normalise(code).split("-")
    if parts[0] != "zh":
        return parts[0], None
    subtags = parts[1:]
    if "hans" not in subtags and _TRADITIONAL_CHINESE_MARKERS.intersection(subtags):
        return "zh", "hant"
    return "zh", "hans"


def best_language(
    requested: str | None, available: Iterable[str], default: str = DEFAULT_LANGUAGE
) -> str | None:
    """The code among ``available`` that a customer asking for ``requested`` should read.

    In order: the same code; the same language (and, for Chinese, the same script);
    ``default``; the first available. None only when ``available`` is empty. Codes are
    compared normalised; the one returned is spelled as in ``available``.
    """
    codes = list(available)
    if not codes:
        return None
    if requested and requested.strip():
        wanted = normalise(requested)
        for code in codes:
            if normalise(code) == wanted:
                return code
        family = _family(wanted)
        for code in codes:
            if _family(code) == family:
                return code
    for code in codes:
        if normalise(code) == normalise(default):
            return code
    return codes[0]
