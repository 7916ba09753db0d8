"""Pure rules of staff campaigns: merchant text, local send moments, variants.

* Merchant-written subjects and bodies name variables as ``{points}`` (``{{`` and ``}}``
  for literal braces). ``text_problems`` lists what is wrong with a text (an unknown
  variable, a format spec, unbalanced braces); ``render_text`` fills a valid one.
* A campaign is sent at one local wall time (``send_on`` + ``send_time``) in each
  recipient's zone: ``local_moment``. The earliest zone (UTC+14) reaches it first, so the
  campaign starts enrolling at ``first_moment``; a send time is in the past when it has
  passed in the shop's zone.
* ``variant_of`` splits the recipients of a two-variant campaign in halves, at random but
  reproducibly (a hash of the campaign and the recipient).
"""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING

from .holdout import holdout_bucket

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from zoneinfo import ZoneInfo

# What a merchant's text may name; filled at send time for each recipient.
VARIABLES = ("points", "tier", "campaign")
BUILTIN_KINDS = ("new_arrivals", "clearance", "festival_greeting")
CUSTOM = "custom"
KINDS = (CUSTOM, *BUILTIN_KINDS)
MAX_HOLDOUT_PERCENT = Decimal(50)
VARIANTS = ("a", "b")
# The zones furthest ahead of and behind UTC (Kiribati, Baker Island).
EARLIEST_ZONE = timezone(timedelta(hours=14))
LATEST_ZONE = timezone(timedelta(hours=-12))


def text_problems(text: str, variables: Sequence[str] = VARIABLES) -> list[str]:
    """What is wrong with a merchant's text, in English; empty when it can be rendered.

    ``variables``: the names the text may use (a campaign's by default).
    """
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as error:
        return [f"Braces do not match ({error}); write {{{{ and }}}} for literal braces."]
    problems = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in variables:
            problems.append(
                f"Unknown template variable {{{name}}}: use one of "
                + ", ".join(f"{{{v}}}" for v in variables)
                + "."
                if variables
                else f"Unknown template variable {{{name}}}: this text takes none."
            )
        elif spec or conversion:
            problems.append(f"Write {{{name}}} without a format or conversion.")
    return problems


def render_text(
    text: str, values: Mapping[str, object], variables: Sequence[str] = VARIABLES
) -> str:
    """``text`` with its variables filled; a text with problems raises ``ValueError``."""
    problems = text_problems(text, variables)
    if problems:
        raise ValueError(problems[0])
    return string.Formatter().vformat(text, (), {name: values.get(name, "") for name in variables})


def local_moment(send_on: date, send_time: time, zone: ZoneInfo | timezone) -> datetime:
    """The instant the wall time ``send_on send_time`` comes in ``zone``, in UTC."""
    return datetime.combine(send_on, send_time, tzinfo=zone).astimezone(UTC)


def first_moment(send_on: date, send_time: time) -> datetime:
    """The first instant the wall time comes anywhere (UTC+14): enrolling starts then."""
    return local_moment(send_on, send_time, EARLIEST_ZONE)


def last_moment(send_on: date, send_time: time) -> datetime:
    """The last instant the wall time comes anywhere (UTC-12)."""
    return local_moment(send_on, send_time, LATEST_ZONE)


def variant_of(campaign_id: int, subject_key: str, *, variants: int) -> str:
    """``"a"`` or ``"b"`` (halves) for a two-variant campaign; ``""`` for one variant."""
    if variants < 2:
        return ""
    bucket = holdout_bucket(subject_key, salt=f"campaign-variant:{campaign_id}")
    return VARIANTS[bucket % 2]


def holdout_problem(percent: Decimal) -> str:
    """Why a holdout share is refused ("" when it is fine): 0 to 50 percent."""
    if not Decimal(0) <= percent <= MAX_HOLDOUT_PERCENT:
        return f"The holdout is a share between 0 and {MAX_HOLDOUT_PERCENT} percent."
    return ""
