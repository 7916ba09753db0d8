"""How the simulated customers behave: assumptions of the simulation, not measurements.

Customers differ, as real ones do. Each draws their own habits from the seeded random
source when the store opens (so the same seed tells the same story):

- **Regulars**: each channel's first ``REGULARS_PER_CHANNEL`` customers, the shop's loyal
  core (the default run's customers are all regulars). Their daily order and abandon rates
  are Gamma-distributed around ``REGULAR_ORDER_DAILY`` and ``REGULAR_ABANDON_DAILY`` (shape
  ``REGULAR_SHAPE``: some regulars shop twice as often as others); they visit the points
  mall in ``REGULAR_VISIT_WEEKLY`` of weeks and never drop out.
- **Occasional customers**: every customer beyond them, drawn the way the BG/NBD model
  describes repeat buying (Fader, Hardie & Lee 2005): a weekly purchase rate from
  Gamma(r, alpha) and, after each order, a chance to drop out for good from Beta(a, b),
  with the parameters the authors fitted to CDNOW's customers (``OCCASIONAL``). Most buy
  once or twice a year or never; a few buy often. They leave carts behind in the same
  proportion to their orders as regulars do, and visit the points mall in proportion to
  how often they shop.

Carts come back the same way for everyone: by themselves with ``NATURAL_RETURN`` (whether
or not they are reminded), and each reminder read adds the chance of its step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import random

REGULARS_PER_CHANNEL = 16
REGULAR_ORDER_DAILY = 0.06  # about one order every two and a half weeks
REGULAR_ABANDON_DAILY = 0.05
REGULAR_VISIT_WEEKLY = 0.4
REGULAR_SHAPE = 4.0
# BG/NBD fitted to CDNOW (Fader, Hardie & Lee 2005): r, alpha (per week), a, b.
OCCASIONAL = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
NATURAL_RETURN = 0.08
RETURN_AFTER_REMINDER = {1: 0.18, 2: 0.12, 3: 0.06}

BEHAVIOUR = {
    "regulars_per_channel": REGULARS_PER_CHANNEL,
    "regular_order_daily": REGULAR_ORDER_DAILY,
    "regular_abandon_daily": REGULAR_ABANDON_DAILY,
    "regular_visit_weekly": REGULAR_VISIT_WEEKLY,
    "regular_shape": REGULAR_SHAPE,
    "occasional_bgnbd": OCCASIONAL,
    "natural_return": NATURAL_RETURN,
    "return_after_reminder": RETURN_AFTER_REMINDER,
}


@dataclass
class Habits:
    """One customer's rates.

    Daily chances to order and to leave a cart, the weekly chance to visit the points mall,
    and the chance to drop out for good after each order; ``active`` turns False once they
    have dropped out.
    """

    order_daily: float
    abandon_daily: float
    visit_weekly: float
    dropout_after_order: float = 0.0
    active: bool = True


def draw_habits(source: random.Random, *, regular: bool) -> Habits:
    """A customer's habits drawn from ``source`` (see the module's description)."""
    if regular:
        spread = source.gammavariate(REGULAR_SHAPE, 1 / REGULAR_SHAPE)  # mean 1
        return Habits(
            order_daily=min(1.0, REGULAR_ORDER_DAILY * spread),
            abandon_daily=min(1.0, REGULAR_ABANDON_DAILY * spread),
            visit_weekly=REGULAR_VISIT_WEEKLY,
        )
    weekly = source.gammavariate(OCCASIONAL["r"], 1 / OCCASIONAL["alpha"])
    order_daily = min(1.0, weekly / 7)
    relative = order_daily / REGULAR_ORDER_DAILY
    return Habits(
        order_daily=order_daily,
        abandon_daily=min(1.0, REGULAR_ABANDON_DAILY * relative),
        visit_weekly=min(REGULAR_VISIT_WEEKLY, REGULAR_VISIT_WEEKLY * relative),
        dropout_after_order=source.betavariate(OCCASIONAL["a"], OCCASIONAL["b"]),
    )


def describe() -> str:
    """The assumptions in one sentence, for the report."""
    o = OCCASIONAL
    return (
        f"each channel's first {REGULARS_PER_CHANNEL} customers are regulars (ordering on "
        f"{REGULAR_ORDER_DAILY:.0%} of days and leaving a cart on {REGULAR_ABANDON_DAILY:.0%} "
        f"on average, Gamma shape {REGULAR_SHAPE:g}); the rest buy as BG/NBD describes, "
        f"with CDNOW's fit (weekly rate Gamma r={o['r']}, alpha={o['alpha']}; dropout after "
        f"each order Beta a={o['a']}, b={o['b']})"
    )
