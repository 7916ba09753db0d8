"""When a customer is about to run out of a product they buy again and again (pure rules).

The expected interval between two purchases of one product by one customer comes from,
in order of preference:

1. **the customer's own intervals** (they bought it at least twice), shrunk towards a
   prior when they have few: ``interval = w * own + (1 - w) * prior`` with
   ``w = n / (n + k)``, ``n`` the customer's intervals and ``k`` the credibility constant
   (``CREDIBILITY_K``; the prior keeps weight ``k / (k + n)``). This is Bühlmann's
   credibility weight, the empirical-Bayes estimate of a customer mean when customers
   scatter around the product's typical interval. The prior is the product's median
   interval across customers when it rests on at least ``MIN_PRODUCT_OBSERVATIONS``
   intervals, else the merchant's configured cycle; with neither, the customer's own
   median stands alone;
2. **the product's median interval** across customers (at least
   ``MIN_PRODUCT_OBSERVATIONS`` intervals);
3. **the configured usage cycle** of the product, else its product type, else its
   category (the middle of the configured range).

"Own" is the median of the customer's intervals (robust to one long holiday). Intervals
are measured between orders, in days, and gaps under ``MIN_INTERVAL_DAYS`` are not
repurchases (an order split in two) and are left out everywhere.

Quantity: a customer who bought more than usual runs out later. The run-out is the last
purchase plus ``interval * factor``, ``factor = last quantity / the customer's mean
quantity per order of the product``, clamped to ``[1 / MAX_QUANTITY_FACTOR,
MAX_QUANTITY_FACTOR]``. A first purchase is not scaled (factor 1): the configured cycle
and the product median describe a usual purchase, not one unit, and one order says
nothing about this customer's habit.

The reminder is due ``lead_days`` before the run-out (never before the purchase itself);
it stops once the customer orders the product again (``still_due``).
"""

from __future__ import annotations

import enum
import itertools
import re
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

CREDIBILITY_K = 2.0
MIN_PRODUCT_OBSERVATIONS = 5
MIN_INTERVAL_DAYS = 1.0
MAX_QUANTITY_FACTOR = 3.0
MAX_CYCLE_DAYS = 730


@dataclass(frozen=True)
class CycleRange:
    """A usage cycle from ``min_days`` to ``max_days`` (whole days, 1 <= min <= max)."""

    min_days: int
    max_days: int

    def __post_init__(self) -> None:
        if not 1 <= self.min_days <= self.max_days <= MAX_CYCLE_DAYS:
            raise ValueError(
                f"A cycle runs from 1 to {MAX_CYCLE_DAYS} days with its minimum not above "
                f"its maximum, not {self.min_days}-{self.max_days}."
            )

    @property
    def expected_days(self) -> float:
        """The middle of the range: what a reminder plans with."""
        return (self.min_days + self.max_days) / 2


# The seeds' table of repurchase cycles by trade: defaults a merchant maps ids onto.
PRESETS: Mapping[str, CycleRange] = {
    "food_drink": CycleRange(7, 30),
    "beauty": CycleRange(30, 60),
    "apparel": CycleRange(30, 90),
    "baby": CycleRange(15, 45),
    "electronics": CycleRange(180, 365),
}


class CycleLevel(enum.StrEnum):
    PRODUCT = "product"
    PRODUCT_TYPE = "product_type"
    CATEGORY = "category"


@dataclass(frozen=True)
class CycleRule:
    """The usage cycle the merchant set for one product, product type or category id."""

    level: CycleLevel
    object_id: str
    cycle: CycleRange
    preset: str | None = None


_RULE = re.compile(r"^(product|product_type|category):([^=\s]+)\s*=\s*(\S+)$")
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_cycle_rules(text: str) -> tuple[CycleRule, ...]:
    """Parse ``level:id = preset`` or ``level:id = min-max`` (days), one per line or ``;``.

    ``level`` is ``product``, ``product_type`` or ``category``; ``id`` Saleor's numeric
    id; ``preset`` one of ``PRESETS``; ``min-max`` or a single number of days. Raises
    ``ValueError`` naming the first bad entry (an unknown preset, a day 0, min above max,
    a non-numeric id, the same id twice).
    """
    rules: list[CycleRule] = []
    seen: set[tuple[CycleLevel, str]] = set()
    for raw in re.split(r"[;\n]", text or ""):
        entry = raw.strip()
        if not entry:
            continue
        match = _RULE.match(entry)
        if match is None:
            raise ValueError(
                f"{entry!r}: write level:id = preset or days, for example "
                "category:12 = beauty or product:7 = 20-40."
            )
        level, object_id, value = CycleLevel(match[1]), match[2], match[3]
        if not object_id.isdigit():
            raise ValueError(f"{entry!r}: the id must be a number, not {object_id!r}.")
        if (level, object_id) in seen:
            raise ValueError(f"{entry!r}: {level.value} {object_id} has two cycles.")
        seen.add((level, object_id))
        preset: str | None = None
        if value in PRESETS:
            preset, cycle = value, PRESETS[value]
        else:
            days = _RANGE.match(value)
            if days is None:
                raise ValueError(
                    f"{entry!r}: {value!r} is neither a preset ({', '.join(PRESETS)}) "
                    "nor a number of days such as 30 or 30-60."
                )
            low = int(days[1])
            high = int(days[2]) if days[2] else low
            try:
                cycle = CycleRange(low, high)
            except ValueError as error:
                raise ValueError(f"{entry!r}: {error}") from None
        rules.append(CycleRule(level, object_id, cycle, preset))
    return tuple(rules)


def format_cycle_rules(rules: Iterable[CycleRule]) -> str:
    """The text ``parse_cycle_rules`` reads back to ``rules``."""
    parts = []
    for rule in rules:
        if rule.preset:
            value = rule.preset
        elif rule.cycle.min_days == rule.cycle.max_days:
            value = str(rule.cycle.min_days)
        else:
            value = f"{rule.cycle.min_days}-{rule.cycle.max_days}"
        parts.append(f"{rule.level.value}:{rule.object_id} = {value}")
    return "; ".join(parts)


class CycleTable:
    """The merchant's usage cycles; ``str()`` gives the text ``parse`` reads back.

    Immutable; a plain class rather than a dataclass so a settings section holding it
    formats it as its text (``dataclasses.asdict`` would turn it into a dict).
    """

    __slots__ = ("rules",)
    rules: tuple[CycleRule, ...]

    def __init__(self, rules: Iterable[CycleRule] = ()) -> None:
        object.__setattr__(self, "rules", tuple(rules))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("CycleTable is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CycleTable) and other.rules == self.rules

    def __hash__(self) -> int:
        return hash(self.rules)

    def __deepcopy__(self, memo: dict[int, object]) -> CycleTable:
        return self  # immutable

    def __repr__(self) -> str:
        return f"CycleTable({self.rules!r})"

    @classmethod
    def parse(cls, text: str) -> CycleTable:
        """Read ``parse_cycle_rules`` text; raises its ``ValueError``."""
        return cls(parse_cycle_rules(text))

    def __str__(self) -> str:
        return format_cycle_rules(self.rules)

    def cycle_for(
        self, product_id: str | None, product_type_id: str | None, category_id: str | None
    ) -> CycleRange | None:
        """The most specific cycle: the product's, else its type's, else its category's."""
        by_key = {(rule.level, rule.object_id): rule.cycle for rule in self.rules}
        for level, object_id in (
            (CycleLevel.PRODUCT, product_id),
            (CycleLevel.PRODUCT_TYPE, product_type_id),
            (CycleLevel.CATEGORY, category_id),
        ):
            if object_id is not None and (level, object_id) in by_key:
                return by_key[(level, object_id)]
        return None


class IntervalSource(enum.StrEnum):
    OWN = "own"  # the customer's median, no prior to shrink towards
    SHRUNK = "shrunk"  # the customer's median shrunk towards the prior
    PRODUCT = "product"  # the product's median across customers
    CONFIGURED = "configured"  # the merchant's cycle


@dataclass(frozen=True)
class ExpectedInterval:
    days: float
    source: IntervalSource


def repurchase_intervals(purchased_at: Sequence[datetime]) -> list[float]:
    """Days between successive purchases (sorted first), without gaps under a day."""
    moments = sorted(purchased_at)
    gaps = [(b - a).total_seconds() / 86400 for a, b in itertools.pairwise(moments)]
    return [gap for gap in gaps if gap >= MIN_INTERVAL_DAYS]


def product_median(intervals: Sequence[float]) -> float | None:
    """The median of the product's intervals across customers, or None with too few."""
    if len(intervals) < MIN_PRODUCT_OBSERVATIONS:
        return None
    return float(statistics.median(intervals))


def expected_interval(
    own_intervals: Sequence[float],
    product_median_days: float | None,
    configured: CycleRange | None,
    *,
    k: float = CREDIBILITY_K,
) -> ExpectedInterval | None:
    """The interval to plan with (days), and where it came from; None when nothing is known.

    ``product_median_days`` is None when the product has too few observations
    (``product_median`` decides).
    """
    prior = product_median_days
    if prior is None and configured is not None:
        prior = configured.expected_days
    n = len(own_intervals)
    if n:
        own = float(statistics.median(own_intervals))
        if prior is None:
            return ExpectedInterval(own, IntervalSource.OWN)
        weight = n / (n + k)
        return ExpectedInterval(weight * own + (1 - weight) * prior, IntervalSource.SHRUNK)
    if product_median_days is not None:
        return ExpectedInterval(product_median_days, IntervalSource.PRODUCT)
    if configured is not None:
        return ExpectedInterval(configured.expected_days, IntervalSource.CONFIGURED)
    return None


def quantity_factor(last_quantity: int, mean_quantity: float) -> float:
    """How much longer (or shorter) the last purchase lasts than the customer's usual one."""
    if last_quantity <= 0 or mean_quantity <= 0:
        return 1.0
    return min(max(last_quantity / mean_quantity, 1 / MAX_QUANTITY_FACTOR), MAX_QUANTITY_FACTOR)


@dataclass(frozen=True)
class ReplenishmentPlan:
    """When the last purchase runs out and when to remind (timezone-aware)."""

    last_purchased_at: datetime
    interval: ExpectedInterval
    run_out_at: datetime
    due_at: datetime


@dataclass(frozen=True)
class Purchase:
    """One order's purchase of the product: when and how many units (all lines summed)."""

    at: datetime
    quantity: int


def plan_reminder(
    purchases: Sequence[Purchase],
    product_median_days: float | None,
    configured: CycleRange | None,
    lead_days: int,
    *,
    k: float = CREDIBILITY_K,
) -> ReplenishmentPlan | None:
    """The reminder for a customer's purchases of one product, or None (nothing known).

    ``purchases`` are the customer's counted orders of the product (any order).
    """
    if not purchases:
        return None
    ordered = sorted(purchases, key=lambda purchase: purchase.at)
    interval = expected_interval(
        repurchase_intervals([purchase.at for purchase in ordered]),
        product_median_days,
        configured,
        k=k,
    )
    if interval is None:
        return None
    last = ordered[-1]
    if len(ordered) > 1:
        factor = quantity_factor(last.quantity, statistics.fmean(p.quantity for p in ordered))
    else:
        factor = 1.0
    run_out = last.at + timedelta(days=interval.days * factor)
    due = max(run_out - timedelta(days=lead_days), last.at)
    return ReplenishmentPlan(last.at, interval, run_out, due)


def still_due(anchor_at: datetime, purchased_since: Iterable[datetime]) -> bool:
    """The reminder anchored at the purchase ``anchor_at`` still stands: no later order."""
    return not any(moment > anchor_at for moment in purchased_since)
