"""Pure earning rules: how many points an order is worth and how many a refund takes back."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from .credit_trigger import CreditTrigger
from .orders import NON_EARNING_STATUSES, OrderSnapshot, order_value


def points_for_amount(amount: Decimal, rate: Decimal, multiplier: Decimal = Decimal(1)) -> int:
    """Whole points for ``amount`` of currency, rounded down; never negative."""
    if amount <= 0 or rate <= 0 or multiplier <= 0:
        return 0
    return int((amount * rate * multiplier).to_integral_value(rounding=ROUND_FLOOR))


def order_earns_points(order: OrderSnapshot, trigger: CreditTrigger) -> bool:
    """Whether the order, as it stands now, has reached the point where it earns."""
    if order.status in NON_EARNING_STATUSES:
        return False
    if trigger is CreditTrigger.ORDER_FULLY_PAID:
        # A cancelled order that had been paid earned (and now gives everything back);
        # one cancelled before payment never earns.
        return order.is_fully_paid
    return True


def points_to_take_back(earned: int, order: OrderSnapshot) -> int:
    """How many of the order's ``earned`` points should have been taken back by now.

    The refunded share of the goods (``order_value``: all on cancellation, nothing for a
    refund of shipping only) of what was earned, rounded down in the customer's favour,
    so that refunding every item (with or without shipping) takes back exactly what was
    earned.
    """
    if earned <= 0:
        return 0
    share = order_value(order).refunded_goods_share
    # Exact fractions: a rounded share (1/3 = 0.333...) would floor 30 * 1/3 to 9.
    return min(earned, int(earned * share))


def order_multiplier(tier_multiplier: Decimal, member_day_multiplier: Decimal) -> Decimal:
    """The multiplier an order earns with: its tier's times the member day's (both ≥ 0).

    A member day doubling points for a gold member who earns 1.5x gives 3x.
    """
    return tier_multiplier * member_day_multiplier
