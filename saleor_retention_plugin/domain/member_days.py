"""Member days: windows in which members earn a points multiplier, higher tiers shop first.

A window runs from ``starts_at`` (inclusive) to ``ends_at`` (exclusive). Within it, orders
placed earn ``multiplier`` times their points (on top of a tier's own multiplier: the two
multiply). Each tier may get early access: a lead in hours before ``starts_at``; a higher
tier's lead is never shorter than a lower tier's. Members are told ``announce_hours``
before their own access starts, so higher tiers are told first. Windows of one channel
never overlap, so a moment has at most one multiplier. Pure rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

MAX_MULTIPLIER = Decimal(10)
MAX_WINDOW_DAYS = 31
MAX_LEAD_HOURS = 24 * 14
MAX_ANNOUNCE_HOURS = 24 * 60


@dataclass(frozen=True)
class MemberDayWindow:
    starts_at: datetime
    ends_at: datetime
    multiplier: Decimal
    # Tier code -> hours of early access before ``starts_at``.
    early_access_hours: Mapping[str, int] = field(default_factory=dict)
    announce_hours: int = 48
    window_id: int | None = None

    def contains(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_at

    def access_starts_at(self, tier_code: str | None) -> datetime:
        """When members of ``tier_code`` (None: no tier) may shop the window."""
        lead = self.early_access_hours.get(tier_code, 0) if tier_code else 0
        return self.starts_at - timedelta(hours=lead)

    def announce_at(self, tier_code: str | None) -> datetime:
        return self.access_starts_at(tier_code) - timedelta(hours=self.announce_hours)


def window_problems(
    window: MemberDayWindow,
    others: Sequence[MemberDayWindow],
    *,
    tiers_low_to_high: Sequence[str],
) -> dict[str, str]:
    """Field name -> message for everything wrong with ``window`` beside ``others``.

    ``tiers_low_to_high`` are the channel's tier codes from the lowest to the highest;
    early access may only name them, and a higher tier's lead is at least a lower one's.
    """
    errors: dict[str, str] = {}
    if window.ends_at <= window.starts_at:
        errors["endsAt"] = "The end must come after the start."
    elif window.ends_at - window.starts_at > timedelta(days=MAX_WINDOW_DAYS):
        errors["endsAt"] = f"A member day lasts at most {MAX_WINDOW_DAYS} days."
    multiplier = window.multiplier
    if not multiplier.is_finite() or multiplier <= 0:
        errors["multiplier"] = "Enter a multiplier greater than zero, for example 2."
    elif multiplier > MAX_MULTIPLIER:
        errors["multiplier"] = f"Enter a multiplier of at most {MAX_MULTIPLIER}."
    if not 0 <= window.announce_hours <= MAX_ANNOUNCE_HOURS:
        errors["announceHours"] = f"Enter 0 to {MAX_ANNOUNCE_HOURS} hours."
    lead_error = _lead_problem(window.early_access_hours, tiers_low_to_high)
    if lead_error:
        errors["earlyAccessHours"] = lead_error
    if "endsAt" not in errors:
        for other in others:
            if other.window_id is not None and other.window_id == window.window_id:
                continue
            if window.starts_at < other.ends_at and other.starts_at < window.ends_at:
                errors["startsAt"] = (
                    f"This overlaps the member day from {other.starts_at.isoformat()} "
                    f"to {other.ends_at.isoformat()}."
                )
                break
    return errors


def _lead_problem(leads: Mapping[str, int], tiers_low_to_high: Sequence[str]) -> str:
    unknown = sorted(set(leads) - set(tiers_low_to_high))
    if unknown:
        return f"Unknown tier {unknown[0]!r}: use {', '.join(tiers_low_to_high) or 'no tiers'}."
    for code, hours in leads.items():
        if (
            not isinstance(hours, int)
            or isinstance(hours, bool)
            or not 0 <= hours <= MAX_LEAD_HOURS
        ):
            return (
                f"The lead of {code!r} must be a whole number of hours from 0 to {MAX_LEAD_HOURS}."
            )
    previous = 0
    previous_code = ""
    for code in tiers_low_to_high:
        hours = leads.get(code, 0)
        if hours < previous:
            return (
                f"Higher tiers shop first: {code!r} gets {hours} hours, less than the "
                f"{previous} of the lower tier {previous_code!r}."
            )
        previous, previous_code = hours, code
    return ""


def multiplier_at(moment: datetime, windows: Sequence[MemberDayWindow]) -> Decimal:
    """The member-day multiplier for an order placed at ``moment`` (1 outside windows)."""
    for window in windows:
        if window.contains(moment):
            return window.multiplier
    return Decimal(1)


def announcement_order(tiers_low_to_high: Sequence[str]) -> list[str | None]:
    """Who is told first: the highest tier, down to members without a tier (None)."""
    return [*reversed(tiers_low_to_high), None]
