"""Post-purchase care: the schedule of care messages and the satisfaction score. Pure rules.

The care clock starts at the order's *anchor*: its fulfilment, or, for shops that do not
fulfil in Saleor, its payment plus a configured delay. Each step is a day counted from the
anchor (day 3 satisfaction check, day 7 review invitation, day 15 related products,
day 30 repurchase coupon by default). A step is due from its day until the next step's
day: a sweep that fell behind sends the newest step that is due, never a stale one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

MIN_SCORE = 1
MAX_SCORE = 5
MAX_CARE_DAY = 365


class CareStepKind(enum.StrEnum):
    SATISFACTION = "satisfaction"  # the five signed rating links
    REVIEW = "review"  # a review invitation (a review earns points)
    RELATED = "related"  # related products
    COUPON = "coupon"  # a single-use repurchase coupon

    @property
    def number(self) -> int:
        """The step number of the ``care`` flow's messages and templates (``step_<n>``).

        Fixed per kind whichever steps a channel switched off: 1 satisfaction, 2 review,
        3 related products, 4 coupon.
        """
        return list(CareStepKind).index(self) + 1


class CareAnchor(enum.StrEnum):
    FULFILMENT = "fulfilment"  # Saleor's fulfilment of the order starts the clock
    PAYMENT = "payment"  # payment plus a delay, for shops that do not fulfil in Saleor


@dataclass(frozen=True)
class CareStep:
    kind: CareStepKind
    day: int  # whole days after the anchor, 1..365

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.day}"

    def due_at(self, anchor: datetime) -> datetime:
        return anchor + timedelta(days=self.day)


DEFAULT_CARE_STEPS = "satisfaction:3, review:7, related:15, coupon:30"


def parse_care_steps(raw: object) -> tuple[CareStep, ...]:
    """``"satisfaction:3, review:7"`` as steps; leave a step out to switch it off.

    Raises ``ValueError`` with the merchant's message for an unknown step, a step named
    twice, a day that is not a whole number from 1 to 365 (day 0 is refused: the anchor
    itself is the order confirmation's moment), or days that do not increase.
    """
    text = str(raw if raw is not None else "").strip()
    if not text:
        return ()
    steps: list[CareStep] = []
    known = ", ".join(kind.value for kind in CareStepKind)
    for item in text.split(","):
        name, separator, day_text = item.strip().partition(":")
        name = name.strip().lower()
        if not separator:
            raise ValueError(f"Write each step as name:day, for example satisfaction:3 ({item!r}).")
        try:
            kind = CareStepKind(name)
        except ValueError:
            raise ValueError(f"Unknown step {name!r}: use {known}.") from None
        if any(step.kind is kind for step in steps):
            raise ValueError(f"The step {name!r} is named twice.")
        try:
            day = int(day_text.strip())
        except ValueError:
            raise ValueError(f"Enter the day of {name!r} as a whole number.") from None
        if not 1 <= day <= MAX_CARE_DAY:
            raise ValueError(f"The day of {name!r} must be from 1 to {MAX_CARE_DAY}, not {day}.")
        if steps and day <= steps[-1].day:
            raise ValueError(
                f"Days must increase: {name!r} on day {day} comes after "
                f"{steps[-1].kind.value!r} on day {steps[-1].day}."
            )
        steps.append(CareStep(kind, day))
    return tuple(steps)


def format_care_steps(steps: tuple[CareStep, ...]) -> str:
    return ", ".join(f"{step.kind.value}:{step.day}" for step in steps)


def care_anchor(
    anchor: CareAnchor,
    *,
    fulfilled_at: datetime | None,
    paid_at: datetime | None,
    payment_delay: timedelta,
) -> datetime | None:
    """When the order's care clock starts, or None while it has not started."""
    if anchor is CareAnchor.FULFILMENT:
        return fulfilled_at
    return paid_at + payment_delay if paid_at is not None else None


def due_care_step(
    steps: tuple[CareStep, ...], anchor: datetime, now: datetime, *, done: frozenset[CareStepKind]
) -> CareStep | None:
    """The step to send now: the newest step whose day has come, if not sent yet.

    A step stays due until the next step's day; the last one for as long as the days
    between the two before it (at least a day), so a care message never arrives weeks late.
    """
    for index in range(len(steps) - 1, -1, -1):
        step = steps[index]
        starts = step.due_at(anchor)
        if now < starts:
            continue
        if index + 1 < len(steps):
            ends = steps[index + 1].due_at(anchor)
        else:
            gap = step.day - steps[index - 1].day if index else step.day
            ends = starts + timedelta(days=max(gap, 1))
        if now >= ends or step.kind in done:
            return None
        return step
    return None


def valid_score(score: object) -> bool:
    return (
        isinstance(score, int) and not isinstance(score, bool) and MIN_SCORE <= score <= MAX_SCORE
    )


def is_low_score(score: int, threshold: int) -> bool:
    """A score at or below the merchant's threshold (default 2) asks for a follow-up."""
    return score <= threshold
