"""A Saleor-shaped order as plain values: what the ledger needs to know about an order.

Built by the Saleor glue from ``saleor.order.models.Order`` (or by the sandbox, or later
from a webhook payload) and passed to Celery tasks as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

# Saleor's OrderStatus values that never earn points.
NON_EARNING_STATUSES = frozenset({"draft", "unconfirmed", "expired"})
CANCELLED_STATUS = "canceled"


@dataclass(frozen=True)
class OrderSnapshot:
    order_id: str
    number: str
    channel_slug: str
    channel_currency: str
    currency: str
    customer_id: int | None
    email: str | None
    status: str
    is_fully_paid: bool
    # Subtotal after every discount, without shipping and without tax: what points are earned on.
    points_base_amount: Decimal
    # What the customer paid in all (gross).
    total_amount: Decimal
    refunded_amount: Decimal
    created_at: datetime
    # What the customer paid for the goods (gross, without shipping): the denominator of
    # proportional refunds, so returning every item takes back every point even when
    # shipping is not refunded. None: not known, use ``total_amount``.
    goods_amount: Decimal | None = None
    # Whether the customer proved they own ``email`` (a confirmed Saleor account). Only
    # then may the order pull that email's guest points into the customer's account.
    email_verified: bool = False

    @property
    def is_cancelled(self) -> bool:
        return self.status == CANCELLED_STATUS

    def to_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "number": self.number,
            "channel_slug": self.channel_slug,
            "channel_currency": self.channel_currency,
            "currency": self.currency,
            "customer_id": self.customer_id,
            "email": self.email,
            "status": self.status,
            "is_fully_paid": self.is_fully_paid,
            "points_base_amount": str(self.points_base_amount),
            "total_amount": str(self.total_amount),
            "refunded_amount": str(self.refunded_amount),
            "created_at": self.created_at.isoformat(),
            "goods_amount": None if self.goods_amount is None else str(self.goods_amount),
            "email_verified": self.email_verified,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderSnapshot:
        customer_id = data.get("customer_id")
        return cls(
            order_id=str(data["order_id"]),
            number=str(data.get("number") or ""),
            channel_slug=str(data["channel_slug"]),
            channel_currency=str(data["channel_currency"]),
            currency=str(data["currency"]),
            customer_id=int(customer_id) if customer_id is not None else None,
            email=data.get("email") or None,
            status=str(data["status"]),
            is_fully_paid=bool(data["is_fully_paid"]),
            points_base_amount=Decimal(str(data["points_base_amount"])),
            total_amount=Decimal(str(data["total_amount"])),
            refunded_amount=Decimal(str(data.get("refunded_amount") or "0")),
            created_at=datetime.fromisoformat(str(data["created_at"])),
            goods_amount=(
                Decimal(str(data["goods_amount"])) if data.get("goods_amount") is not None else None
            ),
            email_verified=bool(data.get("email_verified", False)),
        )

    @property
    def refund_base_amount(self) -> Decimal:
        return self.goods_amount if self.goods_amount is not None else self.total_amount


# Saleor order hooks that can change an order's points, and the credit trigger each needs.
ORDER_EVENTS_THAT_SYNC_POINTS: dict[str, str | None] = {
    "order_created": "order_created",
    # Always: an order placed before the merchant switched the trigger to order_created
    # and paid after it must still earn (syncing is idempotent).
    "order_fully_paid": None,
    "order_cancelled": None,
    "order_refunded": None,
    "order_fully_refunded": None,
}


def order_event_syncs_points(event: str, credit_trigger: str) -> bool:
    """Whether a Saleor order event should bring the ledger in line with the order.

    ``order_created`` counts only when it is the merchant's chosen trigger (a paid checkout
    fires it with ``order_fully_paid``: one is enough); the others always count.
    """
    if event not in ORDER_EVENTS_THAT_SYNC_POINTS:
        return False
    needed = ORDER_EVENTS_THAT_SYNC_POINTS[event]
    return needed is None or needed == credit_trigger
