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

Lifecycle messages and the campaign move customers the same way for everyone too: each
message read brings an order within the next six days with the chance its flow has in
``ORDER_AFTER_MESSAGE``, on top of the customer's own habits (which go on as before; a
customer who dropped out for good is not brought back). That order uses the message's
coupon, when it has one, with ``COUPON_USE``; the customer came through the message's
first link (a click on its tracked link, as a returning cart's owner clicks the
reminder's checkout link), and ``IMAGES_SHOWN`` of the messages read load their open
pixel. ``RATING_CLICKED`` of satisfaction checks
are answered through one of their signed rating links (scores weighted by
``RATING_SCORES``) and ``REVIEW_WRITTEN`` of review invitations to registered customers
bring a review. Held-out customers get no message, so nothing moves them: the uplift the
plugin measures against the holdout should come out near ``ORDER_AFTER_MESSAGE`` times
the share of held-out customers who did not order anyway, within its interval.
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

BIRTHDAY_ON_FILE = 0.6  # customers who give their birthday once registered
ORDER_AFTER_MESSAGE = {
    "welcome": 0.10,
    "care": 0.05,
    "replenishment": 0.25,
    "winback": 0.15,
    "birthday": 0.20,
    "member_day": 0.20,
    "points_expiring": 0.20,
    "tier_upgrade": 0.05,
    "campaign": 0.15,
}
COUPON_USE = 0.6
RATING_CLICKED = 0.4
RATING_SCORES = {1: 0.05, 2: 0.05, 3: 0.15, 4: 0.35, 5: 0.4}
REVIEW_WRITTEN = 0.25
# Of the messages read, those whose reader's mail app loads images (the open pixel). Not
# drawn from the story's random source (the same seed keeps telling the same story): a
# hash of the recipient, flow, step and send time decides (``messages.images_shown``).
IMAGES_SHOWN = 0.7

BEHAVIOUR = {
    "regulars_per_channel": REGULARS_PER_CHANNEL,
    "regular_order_daily": REGULAR_ORDER_DAILY,
    "regular_abandon_daily": REGULAR_ABANDON_DAILY,
    "regular_visit_weekly": REGULAR_VISIT_WEEKLY,
    "regular_shape": REGULAR_SHAPE,
    "occasional_bgnbd": OCCASIONAL,
    "natural_return": NATURAL_RETURN,
    "return_after_reminder": RETURN_AFTER_REMINDER,
    "birthday_on_file": BIRTHDAY_ON_FILE,
    "order_after_message": ORDER_AFTER_MESSAGE,
    "coupon_use": COUPON_USE,
    "rating_clicked": RATING_CLICKED,
    "rating_scores": RATING_SCORES,
    "review_written": REVIEW_WRITTEN,
    "images_shown": IMAGES_SHOWN,
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


def describe_messages() -> str:
    """The message assumptions in one sentence, for the report."""
    lifts = ", ".join(f"{flow} {share:.0%}" for flow, share in ORDER_AFTER_MESSAGE.items())
    return (
        f"a message read brings an order within 6 days ({lifts}), on top of the customer's "
        f"habits; {COUPON_USE:.0%} of those orders use the message's coupon; "
        f"{RATING_CLICKED:.0%} of satisfaction checks get a rating click, "
        f"{REVIEW_WRITTEN:.0%} of review invitations a review; {BIRTHDAY_ON_FILE:.0%} of "
        "registered customers gave their birthday; held-out customers get no message; "
        f"{IMAGES_SHOWN:.0%} of messages read load their open pixel, and a customer who "
        "comes back or answers a message clicks its first link"
    )
