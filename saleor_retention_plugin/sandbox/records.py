"""What the simulation keeps in memory while it runs: its customers, their carts and
orders (with the Saleor-shaped snapshot the order hooks send), the event queue's entries
and the log of what happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..domain.orders import OrderLineSnapshot, OrderSnapshot
from .shop import PRODUCT_IDS, product_type_id

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from ..domain.carts import CartLine
    from .behaviour import Habits
    from .shop import SandboxChannel


@dataclass
class Customer:
    name: str
    email: str
    channel: SandboxChannel
    customer_id: int | None  # None while shopping as a guest
    habits: Habits
    registers_on_day: int | None = None
    birthday: tuple[int, int] | None = None  # (month, day) given once registered


@dataclass
class Cart:
    token: str
    customer: Customer
    lines: tuple[CartLine, ...]
    return_planned: bool = False

    @property
    def goods(self) -> Decimal:
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal(0))


@dataclass
class Order:
    order_id: str
    number: int
    customer: Customer
    checkout_token: str
    created_at: datetime
    goods: Decimal
    shipping: Decimal
    tax: Decimal
    customer_id: int | None = None
    status: str = "unfulfilled"
    paid: bool = False
    refunded: Decimal = Decimal(0)
    lines: tuple[CartLine, ...] = ()
    voucher_code: str | None = None  # a coupon from a message, used on this order

    @property
    def total(self) -> Decimal:
        return self.goods + self.shipping + self.tax

    def snapshot(self) -> OrderSnapshot:
        # The shape Saleor's glue produces from saleor.order.models.Order.
        return OrderSnapshot(
            order_id=self.order_id,
            number=str(self.number),
            channel_slug=self.customer.channel.slug,
            channel_currency=self.customer.channel.currency,
            currency=self.customer.channel.currency,
            customer_id=self.customer_id,
            email=self.customer.email,
            status=self.status,
            is_fully_paid=self.paid,
            points_base_amount=self.goods,
            total_amount=self.total,
            refunded_amount=self.refunded,
            created_at=self.created_at,
            goods_amount=self.goods + self.tax,
            # Registered sandbox customers have confirmed their email.
            email_verified=self.customer_id is not None,
            lines=tuple(
                OrderLineSnapshot(
                    line_id=f"{self.order_id}-{index}",
                    variant_id=line.sku,
                    product_id=PRODUCT_IDS[line.sku or ""],
                    product_type_id=product_type_id(line.sku or ""),
                    category_id=None,
                    sku=line.sku,
                    quantity=line.quantity,
                    unit_price_net=line.unit_price,
                    is_gift_card=False,
                )
                for index, line in enumerate(self.lines, start=1)
            ),
            checkout_token=self.checkout_token,
            voucher_code=self.voucher_code,
            has_discount=self.voucher_code is not None,
            language_code=self.customer.channel.language,
        )


@dataclass(order=True)
class Event:
    at: datetime
    sequence: int
    description: str = field(compare=False)
    apply: Callable[[], Any] = field(compare=False)


@dataclass
class StoreLog:
    events: int = 0
    sweeps: int = 0
    orders: int = 0
    duplicate_deliveries: int = 0
    cancellations: int = 0
    refunds: int = 0
    registrations: int = 0
    redemptions: int = 0
    redemptions_refused: int = 0
    codes_used: int = 0
    carts_left: int = 0
    carts_back_by_themselves: int = 0
    carts_back_after_reminder: int = 0
    reminders_read: int = 0
    emails: int = 0
    # Lifecycle flows and the campaign: what customers did with the messages they read.
    messages_read: int = 0
    orders_after_message: int = 0
    coupons_used: int = 0
    ratings: int = 0
    reviews: int = 0
    # Through the tracking links in the mails the sink received (every flow).
    opens: int = 0
    clicks: int = 0


@dataclass(frozen=True)
class MailLinks:
    """The tracking URLs of one mail the sink received: its links in order, its pixel."""

    clicks: tuple[str, ...]
    pixel: str | None


@dataclass(frozen=True)
class SampleEmail:
    to: str
    subject: str
    body: str
