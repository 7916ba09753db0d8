"""How one dashboard value becomes a typed value: the parsers of ``conf.py``'s settings.

Saleor stores every plugin setting as text. Each parser takes that text (or whatever a
caller sent) and returns the typed value, or raises ``ValueError`` with the message the
merchant reads under the field. Pure: no database, no Django settings.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    import enum
    from collections.abc import Callable

MAX_POINTS_PER_CURRENCY_UNIT = Decimal(1000)
MAX_REMINDER_STEPS = 5
MAX_REMINDER_DELAY_HOURS = 24 * 30
MAX_HOLDOUT_PERCENT = 50


def parse_decimal_rate(raw: str) -> Decimal:
    try:
        # str() first: a plain mapping (the sandbox, an API client) may hold 2 or 0.5.
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError("Enter a number, for example 1 or 0.5.") from None
    if not value.is_finite() or value < 0:
        raise ValueError("Enter a number that is zero or more.")
    if value > MAX_POINTS_PER_CURRENCY_UNIT:
        raise ValueError(f"Enter at most {MAX_POINTS_PER_CURRENCY_UNIT}.")
    return value


def parse_non_negative_int(raw: str, *, maximum: int) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ValueError("Enter a whole number, for example 0 or 30.") from None
    if value < 0:
        raise ValueError("Enter a whole number that is zero or more.")
    if value > maximum:
        raise ValueError(f"Enter at most {maximum}.")
    return value


def parse_timezone(raw: str) -> str:
    name = str(raw).strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a directory of the tz database ("Asia") raises IsADirectoryError.
        raise ValueError(
            f"Unknown timezone {name!r}: use an IANA name such as Asia/Shanghai or Europe/Berlin."
        ) from None
    return name


def parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off", ""}:
        return False
    raise ValueError("Enter true or false.")


def parse_choice(enum_type: type[enum.Enum]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            return enum_type(str(raw).strip())
        except ValueError:
            allowed = ", ".join(str(member.value) for member in enum_type)
            raise ValueError(f"Choose one of: {allowed}.") from None

    return parse


def parse_text(raw: Any) -> str:
    return "" if raw is None else str(raw).strip()


def parse_port(raw: str) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ValueError("Enter a port number, for example 587 or 465.") from None
    if not 1 <= value <= 65535:
        raise ValueError("Enter a port number between 1 and 65535.")
    return value


def parse_optional_url(raw: Any) -> str:
    text = parse_text(raw)
    if text:
        _validate_http_url(text)
    return text.rstrip("/")


def parse_checkout_url_template(raw: Any) -> str:
    text = parse_text(raw)
    if not text:
        return ""
    if "{token}" not in text:
        raise ValueError(
            "Include {token} where the checkout token goes, "
            "for example https://shop.example/checkout?token={token}."
        )
    try:
        example = text.format(token="00000000-0000-0000-0000-000000000000")
    except (KeyError, IndexError, ValueError):
        raise ValueError(
            "Use only the {token} placeholder; write other braces as {{ and }}."
        ) from None
    _validate_http_url(example)
    return text


def parse_optional_email_address(raw: Any) -> str:
    """An address or ``Name <address>``; empty means Django's DEFAULT_FROM_EMAIL."""
    from email.utils import parseaddr

    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    text = parse_text(raw)
    if not text:
        return ""
    _, address = parseaddr(text)
    try:
        validate_email(address)
    except ValidationError:
        raise ValueError("Enter an email address, for example Shop <hello@shop.example>.") from None
    return text


def _validate_http_url(text: str) -> None:
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    try:
        URLValidator(schemes=["http", "https"])(text)
    except ValidationError:
        raise ValueError(
            f"Enter a full http:// or https:// address; {text!r} is not one."
        ) from None


def parse_clock_time(raw: Any) -> time:
    text = str(raw).strip()
    try:
        moment = time.fromisoformat(text)
    except ValueError:
        moment = None
    # Hours and minutes only: seconds or a zone would be kept but never shown or saved back.
    if moment is None or moment.second or moment.microsecond or moment.tzinfo:
        raise ValueError("Enter a time of day as HH:MM, for example 21:00.")
    return moment


def _step_list(raw: Any, *, when_empty: str) -> list[str]:
    """The comma (or semicolon) separated items of a series setting, 1 to 5 of them."""
    parts = [part.strip() for part in str(raw).replace(";", ",").split(",") if part.strip()]
    if not parts:
        raise ValueError(when_empty)
    if len(parts) > MAX_REMINDER_STEPS:
        raise ValueError(f"Enter at most {MAX_REMINDER_STEPS} steps.")
    return parts


def parse_hours_list(raw: Any) -> tuple[Decimal, ...]:
    """``"1, 24, 72"`` -> the delays of the reminder steps, in hours after the last activity."""
    parts = _step_list(raw, when_empty="Enter at least one delay in hours, for example 1, 24, 72.")
    try:
        hours = tuple(Decimal(part) for part in parts)
    except InvalidOperation:
        raise ValueError(
            "Enter hours as numbers separated by commas, for example 1, 24, 72."
        ) from None
    if any(not hour.is_finite() or hour <= 0 or hour > MAX_REMINDER_DELAY_HOURS for hour in hours):
        raise ValueError(f"Each delay is more than 0 and at most {MAX_REMINDER_DELAY_HOURS} hours.")
    if list(hours) != sorted(set(hours)):
        raise ValueError("Each step must come later than the one before, for example 1, 24, 72.")
    return hours


def parse_discount(raw: Any) -> str:
    """``"10%"`` (a percentage off) or ``"5"`` (a fixed amount in the channel's currency)."""
    text = str(raw).strip().replace(" ", "")
    is_percentage = text.endswith("%")
    try:
        value = Decimal(text.rstrip("%"))
    except InvalidOperation:
        raise ValueError("Enter a discount such as 10% or a fixed amount such as 5.") from None
    if not value.is_finite() or value <= 0:
        raise ValueError("Enter a discount greater than zero.")
    if is_percentage and value > 100:
        raise ValueError("A percentage discount is at most 100%.")
    return f"{value.normalize():f}%" if is_percentage else f"{value.normalize():f}"


def parse_percent(raw: Any) -> Decimal:
    try:
        value = Decimal(str(raw).strip().rstrip("%"))
    except InvalidOperation:
        raise ValueError("Enter a percentage, for example 10.") from None
    if not value.is_finite() or not 0 <= value <= MAX_HOLDOUT_PERCENT:
        raise ValueError(f"Enter a percentage between 0 and {MAX_HOLDOUT_PERCENT}.")
    return value


def parse_days_ahead(raw: Any) -> tuple[int, ...]:
    """``"30, 7"`` -> whole days before a deadline, one per message, latest-first order."""
    parts = _step_list(raw, when_empty="Enter one or more numbers of days, for example 30, 7.")
    try:
        days = tuple(int(part) for part in parts)
    except ValueError:
        raise ValueError(
            "Enter whole numbers of days separated by commas, for example 30, 7."
        ) from None
    if any(not 1 <= day <= 365 for day in days):
        raise ValueError("Each number of days is between 1 and 365.")
    if list(days) != sorted(set(days), reverse=True):
        raise ValueError("Each step must come closer than the one before, for example 30, 7.")
    return days


def parse_optional_discount(raw: Any) -> str:
    """Empty for none, else like ``parse_discount``."""
    return parse_discount(raw) if str(raw or "").strip() else ""


def _at_least_one(value: int) -> int:
    if value < 1:
        raise ValueError("Enter a whole number of at least 1.")
    return value


def _parse_positive_days(raw: str, *, maximum: int) -> int:
    value = parse_non_negative_int(raw, maximum=maximum)
    if value == 0:
        raise ValueError("Enter at least 1 day.")
    return value
