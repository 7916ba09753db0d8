"""The reminder series: which step is due when, and which carries an incentive.

Steps are timed from the cart's *last activity* (default 1 h, 24 h and 72 h after it),
so any new activity restarts the clock for the steps not sent yet. Steps already sent
are never sent again: a customer who comes back, edits the cart and leaves again gets
the remaining steps, re-timed, not a second copy of the first.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

MAX_STEPS = 5


class DiscountKind(enum.StrEnum):
    PERCENTAGE = "percentage"
    FIXED = "fixed"


@dataclass(frozen=True)
class Incentive:
    """A single-use coupon attached to a step."""

    kind: DiscountKind
    value: Decimal
    valid_days: int = 7

    def describe(self, currency: str) -> str:
        if self.kind is DiscountKind.PERCENTAGE:
            return f"{self.value.normalize():f}%"
        return f"{self.value:.2f} {currency}"


@dataclass(frozen=True)
class ReminderStep:
    number: int  # 1-based
    delay: timedelta  # after the cart's last activity
    incentive: Incentive | None = None


@dataclass(frozen=True)
class ReminderSeries:
    steps: tuple[ReminderStep, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.steps) <= MAX_STEPS:
            raise ValueError(f"A series has between 1 and {MAX_STEPS} steps.")
        delays = [step.delay for step in self.steps]
        if any(delay <= timedelta(0) for delay in delays):
            raise ValueError("Every step comes some time after the last activity.")
        if delays != sorted(set(delays)):
            raise ValueError("Each step comes later than the one before.")
        if [step.number for step in self.steps] != list(range(1, len(self.steps) + 1)):
            raise ValueError("Steps are numbered 1, 2, 3...")

    @classmethod
    def from_delays(
        cls,
        delays: tuple[timedelta, ...],
        *,
        incentive_step: int | None = None,
        incentive: Incentive | None = None,
    ) -> ReminderSeries:
        return cls(
            tuple(
                ReminderStep(
                    number=number,
                    delay=delay,
                    incentive=incentive if number == incentive_step else None,
                )
                for number, delay in enumerate(delays, start=1)
            )
        )

    def step(self, number: int) -> ReminderStep | None:
        if 1 <= number <= len(self.steps):
            return self.steps[number - 1]
        return None

    def due_at(self, number: int, *, last_activity_at: datetime) -> datetime | None:
        """When step ``number`` is due, or None past the end of the series."""
        step = self.step(number)
        return None if step is None else last_activity_at + step.delay


DEFAULT_SERIES = ReminderSeries.from_delays(
    (timedelta(hours=1), timedelta(hours=24), timedelta(hours=72)),
    incentive_step=2,
    incentive=Incentive(DiscountKind.PERCENTAGE, Decimal(10)),
)
