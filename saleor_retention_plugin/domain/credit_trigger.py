"""When an order's points are credited: a channel setting the earning rules read."""

from __future__ import annotations

import enum


class CreditTrigger(enum.StrEnum):
    """The order event that credits its points (the ``credit_trigger`` channel setting)."""

    ORDER_CREATED = "order_created"
    ORDER_FULLY_PAID = "order_fully_paid"
