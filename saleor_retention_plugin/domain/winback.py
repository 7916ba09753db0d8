"""When a customer has gone quiet, and what an escalating win-back series offers them (pure).

Dormancy: a customer's usual interval is the median gap between their orders (gaps under
a day are one order split in two and left out). They are dormant ``dormancy_factor``
times that interval after their last order (default twice), never sooner than
``MIN_DORMANCY_DAYS``; with no interval (one order, or only same-day orders) after
``default_days`` (default 90).

The series: step ``i`` is due ``steps[i].days_after`` days after the customer became
dormant; it stops once they order again (``still_due``).

Incentive: high-value customers get the non-discount perk the merchant describes (early
access, a service, a gift) at every step, so the most valuable customers are never taught
to wait for ever-bigger discounts; price-sensitive (discount-driven) customers get the
step's discount; everyone else what ``others`` says. A customer who is both gets the perk.
"""

from __future__ import annotations

import enum
import itertools
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from .replenishment import repurchase_intervals

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

MIN_DORMANCY_DAYS = 14
MAX_STEPS = 5
MAX_STEP_DAYS = 365


class IncentiveKind(enum.StrEnum):
    PERK = "perk"
    DISCOUNT = "discount"
    NONE = "none"


@dataclass(frozen=True)
class WinbackStep:
    """One message of the series: ``days_after`` dormancy, with the step's ``discount``.

    ``discount`` is ``"15%"`` or a fixed amount ``"5.00"`` in the channel currency, or
    empty for no discount at this step.
    """

    days_after: int
    discount: str = ""


@dataclass(frozen=True)
class WinbackPolicy:
    dormancy_factor: Decimal = Decimal(2)
    default_days: int = 90
    steps: tuple[WinbackStep, ...] = (
        WinbackStep(0, "10%"),
        WinbackStep(14, "15%"),
        WinbackStep(30, "20%"),
    )
    perk: str = "Early access to our next collection"
    others: IncentiveKind = IncentiveKind.DISCOUNT

    def problems(self) -> dict[str, str]:
        """Field errors: steps must be 1 to ``MAX_STEPS``, increasing, within a year."""
        errors: dict[str, str] = {}
        days = [step.days_after for step in self.steps]
        if not 1 <= len(days) <= MAX_STEPS:
            errors["winback_step_days"] = f"Enter 1 to {MAX_STEPS} steps."
        elif any(b <= a for a, b in itertools.pairwise(days)):
            errors["winback_step_days"] = "Each step must come after the one before it."
        elif days[-1] > MAX_STEP_DAYS:
            errors["winback_step_days"] = f"The last step must come within {MAX_STEP_DAYS} days."
        if not self.perk.strip():  # high-value customers always get it
            errors["winback_perk"] = "Describe the perk high-value customers get."
        return errors


def usual_interval_days(order_moments: Sequence[datetime]) -> float | None:
    """The median gap between the customer's orders, in days; None with no gap."""
    gaps = repurchase_intervals(order_moments)
    return float(statistics.median(gaps)) if gaps else None


def dormancy_days(usual_days: float | None, policy: WinbackPolicy) -> float:
    """Days without an order after which the customer counts as dormant."""
    if usual_days is None:
        return float(policy.default_days)
    return max(float(policy.dormancy_factor) * usual_days, float(MIN_DORMANCY_DAYS))


def dormant_at(
    last_order_at: datetime, usual_days: float | None, policy: WinbackPolicy
) -> datetime:
    """The moment the customer becomes dormant if they do not order again."""
    return last_order_at + timedelta(days=dormancy_days(usual_days, policy))


def step_due_at(dormant: datetime, step: WinbackStep) -> datetime:
    return dormant + timedelta(days=step.days_after)


@dataclass(frozen=True)
class NextStep:
    """What to do now: send ``step`` (1-based; None: nothing yet), look again ``check_at``.

    ``check_at`` None means the series is over after this (or there is nothing left).
    """

    step: int | None
    check_at: datetime | None


def next_step(dormant: datetime, policy: WinbackPolicy, last_sent: int, now: datetime) -> NextStep:
    """The series' next move after ``last_sent`` steps (0 for none) were sent.

    When several steps are overdue (the sweep was down) only the latest is sent: a
    customer never gets two win-back messages at once.
    """
    due_now = None
    for number, step in enumerate(policy.steps, start=1):
        if number > last_sent and step_due_at(dormant, step) <= now:
            due_now = number
    reached = due_now or last_sent
    later = [
        step_due_at(dormant, step)
        for number, step in enumerate(policy.steps, start=1)
        if number > reached
    ]
    return NextStep(due_now, min(later) if later else None)


@dataclass(frozen=True)
class WinbackIncentive:
    kind: IncentiveKind
    discount: str = ""  # the step's "15%" or "5.00" when kind is DISCOUNT
    perk: str = ""  # the merchant's text when kind is PERK


def incentive_for(
    step_index: int, *, high_value: bool, price_sensitive: bool, policy: WinbackPolicy
) -> WinbackIncentive:
    """What step ``step_index`` (0-based) offers this customer."""
    if high_value:
        kind = IncentiveKind.PERK
    elif price_sensitive:
        kind = IncentiveKind.DISCOUNT
    else:
        kind = policy.others
    if kind is IncentiveKind.PERK:
        return WinbackIncentive(kind, perk=policy.perk)
    if kind is IncentiveKind.DISCOUNT:
        discount = policy.steps[step_index].discount
        # A step without a discount offers nothing rather than a zero-value coupon.
        return (
            WinbackIncentive(kind, discount=discount)
            if discount
            else WinbackIncentive(IncentiveKind.NONE)
        )
    return WinbackIncentive(IncentiveKind.NONE)


def parse_step_discounts(raw: str, steps: int) -> tuple[str, ...]:
    """``"10%, 15%, 20%"``: one discount per step (``""`` or ``0`` for none); ValueError."""
    parts = [part.strip() for part in (raw or "").split(",")] if raw.strip() else []
    if len(parts) != steps:
        raise ValueError(f"Enter one discount per step ({steps}), separated by commas.")
    out = []
    for part in parts:
        if part in {"", "0", "0%"}:
            out.append("")
            continue
        number = part[:-1] if part.endswith("%") else part
        try:
            value = Decimal(number)
        except InvalidOperation:
            raise ValueError(f"{part!r} is not a discount such as 15% or 5.00.") from None
        if not value.is_finite() or value <= 0 or (part.endswith("%") and value > 100):
            raise ValueError(f"{part!r}: a discount is above 0 (and at most 100%).")
        out.append(part)
    return tuple(out)


def still_due(anchor_at: datetime, ordered_since: Iterable[datetime]) -> bool:
    """The series anchored at the last order ``anchor_at`` still runs: no order since."""
    return not any(moment > anchor_at for moment in ordered_since)
