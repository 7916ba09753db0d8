"""Holdout experiments: conversion with and without a flow's messages, and the difference.

Pure (no Django). ``uplift`` is what the cart summary and the retention report show for
every flow: both groups' conversion rates, the absolute difference with its 95 %
interval, the relative one with its own, and a plain verdict that says when the sample is
too small to mean anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054
MIN_PER_CELL = 5


@dataclass(frozen=True)
class Uplift:
    """Conversion with (treated) and without (control) and the difference.

    ``absolute`` = p_t - p_c with the 95 % Newcombe hybrid score interval (Newcombe,
    "Interval estimation for the difference between independent proportions",
    Statistics in Medicine 17, 1998, method 10, from Wilson score intervals);
    ``relative`` = p_t / p_c - 1 with the 95 % log-ratio (Katz) interval. ``verdict`` is a
    plain sentence, saying so when a group has fewer than 5 conversions or non-conversions.
    """

    treated: int
    treated_converted: int
    control: int
    control_converted: int
    treated_rate: float | None
    control_rate: float | None
    absolute: float | None
    absolute_low: float | None
    absolute_high: float | None
    relative: float | None
    relative_low: float | None
    relative_high: float | None
    too_small: bool
    verdict: str


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion (Wilson 1927)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return (centre - spread) / denominator, (centre + spread) / denominator


@dataclass(frozen=True)
class Wording:
    """How a verdict names what is compared.

    "Too few {units} to tell yet ... 5 {converted} and 5 {unconverted} {units}",
    "{who} {verb} more: ...".
    """

    units: str
    converted: str
    unconverted: str
    who: str
    verb: str


CARTS = Wording("carts", "recovered", "unrecovered", "Reminders", "recover")
ENROLMENTS = Wording("enrolments", "converted", "unconverted", "Messages", "convert")
# A flow's variant B (treated) against its variant A (control).
VARIANT_B = Wording("enrolments", "converted", "unconverted", "Variant B", "converts")


def uplift(
    treated: int,
    treated_converted: int,
    control: int,
    control_converted: int,
    *,
    wording: Wording = CARTS,
) -> Uplift:
    """``treated`` subjects (``treated_converted`` converted) against ``control`` ones.

    ``control`` is the holdout. Counts are whole subjects; rates and differences are
    fractions (0.05 = 5 percentage points). Never raises: an empty group gives no figures.
    """
    if not treated or not control:
        return Uplift(
            treated, treated_converted, control, control_converted,
            None, None, None, None, None, None, None, None, True,
            "No comparison yet: one of the groups is empty.",
        )  # fmt: skip
    p1, p2 = treated_converted / treated, control_converted / control
    l1, u1 = wilson_interval(treated_converted, treated)
    l2, u2 = wilson_interval(control_converted, control)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    relative = relative_low = relative_high = None
    if treated_converted and control_converted:
        ratio = p1 / p2
        se = math.sqrt(1 / treated_converted - 1 / treated + 1 / control_converted - 1 / control)
        relative = ratio - 1
        relative_low = ratio * math.exp(-Z_95 * se) - 1
        relative_high = ratio * math.exp(Z_95 * se) - 1
    cells = (
        treated_converted,
        treated - treated_converted,
        control_converted,
        control - control_converted,
    )
    too_small = min(cells) < MIN_PER_CELL
    if too_small:
        verdict = (
            f"Too few {wording.units} to tell yet: each group needs at least 5 "
            f"{wording.converted} and 5 {wording.unconverted} {wording.units} before the "
            "difference means anything."
        )
    elif low > 0:
        verdict = (
            f"{wording.who} {wording.verb} more: {difference:+.1%} "
            f"(95 % interval {low:+.1%} to {high:+.1%})."
        )
    elif high < 0:
        verdict = (
            f"{wording.who} {wording.verb} less: {difference:+.1%} "
            f"(95 % interval {low:+.1%} to {high:+.1%})."
        )
    else:
        verdict = (
            f"No clear difference yet: {difference:+.1%}, and the 95 % interval "
            f"({low:+.1%} to {high:+.1%}) includes zero."
        )
    return Uplift(
        treated, treated_converted, control, control_converted, p1, p2, difference, low, high,
        relative, relative_low, relative_high, too_small, verdict,
    )  # fmt: skip
