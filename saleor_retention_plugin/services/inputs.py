"""Parsing what staff and customers type: amounts, whole numbers, texts per language.

Each parser raises ``ValueError`` with a message a person can act on; the services turn
it into a field error. Floats, booleans and non-finite numbers are refused rather than
silently rounded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ..domain.languages import DEFAULT_LANGUAGE

LANGUAGE_CODE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


def is_whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_amount(raw: Any, *, maximum: Decimal) -> Decimal:
    """A non-negative amount with at most 2 decimal places; clear messages otherwise."""
    if isinstance(raw, bool) or raw is None:
        raise ValueError("Enter a number.")
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise ValueError("Enter a number, for example 1000 or 99.50.") from None
    if not value.is_finite():
        raise ValueError("Enter a finite number.")
    if value < 0:
        raise ValueError("Enter a number that is zero or more.")
    if value > maximum:
        raise ValueError(f"Enter at most {maximum}.")
    if value != value.quantize(Decimal("0.01")):
        raise ValueError("Use at most 2 decimal places.")
    return value.quantize(Decimal("0.01"))


def parse_whole_number(raw: Any, *, maximum: int, minimum: int = 1) -> int:
    """A whole number from ``minimum`` to ``maximum``: ints, or text of digits."""
    if isinstance(raw, bool) or raw is None:
        raise ValueError("Enter a whole number.")
    if isinstance(raw, str):
        text = raw.strip()
        if not re.fullmatch(r"[+-]?\d{1,12}", text):
            raise ValueError("Enter a whole number, for example 500.")
        raw = int(text)
    elif isinstance(raw, Decimal | float):
        if raw != raw or raw in (float("inf"), float("-inf")) or raw != int(raw):
            raise ValueError("Enter a whole number, for example 500.")
        raw = int(raw)
    elif not isinstance(raw, int):
        raise ValueError("Enter a whole number, for example 500.")
    if raw < minimum:
        raise ValueError(f"Enter at least {minimum}.")
    if raw > maximum:
        raise ValueError(f"Enter at most {maximum}.")
    return raw


def clean_texts(raw: Any, *, required: bool, max_length: int) -> dict[str, str]:
    """A language -> text object, e.g. {"en": "Gold", "zh-Hans": "黄金会员"}."""
    if raw is None:
        raw = {}
    if isinstance(raw, str):
        raw = {DEFAULT_LANGUAGE: raw}
    if not isinstance(raw, Mapping):
        raise ValueError('Enter texts per language, e.g. {"en": "Gold", "zh-Hans": "黄金会员"}.')
    texts: dict[str, str] = {}
    for language, text in raw.items():
        if not isinstance(language, str) or not LANGUAGE_CODE.match(language):
            raise ValueError(f"{language!r} is not a language code such as en or zh-Hans.")
        if not isinstance(text, str):
            raise ValueError(f"The {language} text must be text.")
        text = text.strip()
        if len(text) > max_length:
            raise ValueError(f"The {language} text is longer than {max_length} characters.")
        if text:
            texts[language] = text
    if required and not texts:
        raise ValueError("Enter a name in at least one language.")
    return texts
