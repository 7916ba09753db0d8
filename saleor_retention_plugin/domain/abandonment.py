"""When is a cart abandoned? Pure rules over plain values.

A cart is abandoned when nobody touched it for the threshold (default 60 minutes), it
has somebody to write to (an email or a customer), at least one line, it has not become
an order, and its customer has not opted out of marketing messages. A cart's own order
is recorded on the cart when it arrives (its state becomes ``converted``, and such carts
are never assessed again); these rules cover the other ways a series ends.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_ABANDONMENT_THRESHOLD = timedelta(minutes=60)


class NotAbandoned(enum.StrEnum):
    """Why a cart is not (or no longer) worth a reminder. Values are stored as stop reasons."""

    STILL_ACTIVE = "still_active"  # not idle for long enough yet: look again later
    NO_CONTACT = "no_contact"  # neither an email nor a customer
    EMPTY = "cart_emptied"
    DELETED = "cart_deleted"
    ORDERED = "cart_ordered"  # the cart's own order (recorded by services.carts.record_order)
    CUSTOMER_ORDERED = "customer_ordered"
    OPTED_OUT = "opted_out"

    @property
    def is_final(self) -> bool:
        """A final reason stops the series; the others only mean "not now".

        A stopped series starts again when new activity reopens the cart.
        """
        return self not in {NotAbandoned.STILL_ACTIVE, NotAbandoned.NO_CONTACT}


@dataclass(frozen=True)
class CartFacts:
    last_activity_at: datetime
    has_email: bool
    has_customer: bool
    line_count: int
    exists: bool = True
    customer_ordered_since_activity: bool = False
    opted_out: bool = False


def why_not_abandoned(
    facts: CartFacts, *, now: datetime, threshold: timedelta = DEFAULT_ABANDONMENT_THRESHOLD
) -> NotAbandoned | None:
    """None when the cart is abandoned; otherwise the first reason it is not.

    Reasons that end the series come first: a cart that became an order is not "still
    active", whatever its timestamps say.
    """
    if not facts.exists:
        return NotAbandoned.DELETED
    if facts.customer_ordered_since_activity:
        return NotAbandoned.CUSTOMER_ORDERED
    if facts.opted_out:
        return NotAbandoned.OPTED_OUT
    if facts.line_count < 1:
        return NotAbandoned.EMPTY
    if not (facts.has_email or facts.has_customer):
        return NotAbandoned.NO_CONTACT
    if now - facts.last_activity_at < threshold:
        return NotAbandoned.STILL_ACTIVE
    return None
