"""A Saleor-shaped order as plain values, and what the order is worth as it now stands.

``OrderSnapshot`` is built once per task by the Saleor glue from
``saleor.order.models.Order`` (or by the sandbox, or later from a webhook payload or a
backfill) and can travel as JSON. ``order_value`` is the one function of an order that
every part reads: the ledger earns on its goods and takes back its refunded share, tiers
count its net goods, the purchase history stores its net goods. One formula, so points
and tiers can never disagree about a refund.

Money is ``Decimal`` in the order's currency; "goods" are the order's lines after every
discount, without shipping, tax excluded for the points base (net) and included for the
refund share (gross, what the customer paid for them). Gift-card lines are not goods
(buying a card earns nothing); gift-card *payments* pay for goods like money, so they
never lower the goods amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

CENT = Decimal("0.01")

# Saleor's OrderStatus values that never earn points.
NON_EARNING_STATUSES = frozenset({"draft", "unconfirmed", "expired"})
CANCELLED_STATUS = "canceled"


@dataclass(frozen=True)
class OrderLineSnapshot:
    """One order line as the purchase history and the goods totals need it."""

    line_id: str
    variant_id: str | None
    product_id: str | None
    product_type_id: str | None
    category_id: str | None
    sku: str | None
    quantity: int
    unit_price_net: Decimal  # per unit, after line discounts, without tax
    is_gift_card: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "line_id": self.line_id,
            "variant_id": self.variant_id,
            "product_id": self.product_id,
            "product_type_id": self.product_type_id,
            "category_id": self.category_id,
            "sku": self.sku,
            "quantity": self.quantity,
            "unit_price_net": str(self.unit_price_net),
            "is_gift_card": self.is_gift_card,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderLineSnapshot:
        def text(name: str) -> str | None:
            value = data.get(name)
            return None if value is None else str(value)

        return cls(
            line_id=str(data["line_id"]),
            variant_id=text("variant_id"),
            product_id=text("product_id"),
            product_type_id=text("product_type_id"),
            category_id=text("category_id"),
            sku=text("sku"),
            quantity=int(data["quantity"]),
            unit_price_net=Decimal(str(data["unit_price_net"])),
            is_gift_card=bool(data.get("is_gift_card", False)),
        )


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
    # What Saleor itemised of ``refunded_amount`` (granted refunds and refunded
    # fulfilments list lines and shipping): gross goods and gross shipping refunded. The
    # rest of ``refunded_amount`` is not itemised and counts as goods (see order_value).
    refunded_goods_amount: Decimal = Decimal(0)
    refunded_shipping_amount: Decimal = Decimal(0)
    # What gift cards paid of the order (informational: they pay like money).
    gift_card_paid_amount: Decimal = Decimal(0)
    lines: tuple[OrderLineSnapshot, ...] = ()
    # The checkout the order was placed from (Saleor keeps its token on the order).
    checkout_token: str | None = None
    voucher_code: str | None = None
    # Any voucher, promotion or manual discount applied to the order or its lines.
    has_discount: bool = False
    # The customer's language on the order (Saleor's ``language_code``), for messages.
    language_code: str = "en"
    # When the shop fulfilled the order (Saleor: its latest fulfilment's creation), for
    # an order that is fulfilled; None when not fulfilled or not known. Flows counted
    # from fulfilment start here, not when the intake happens to see the order.
    fulfilled_at: datetime | None = None

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
            "refunded_goods_amount": str(self.refunded_goods_amount),
            "refunded_shipping_amount": str(self.refunded_shipping_amount),
            "gift_card_paid_amount": str(self.gift_card_paid_amount),
            "lines": [line.to_json() for line in self.lines],
            "checkout_token": self.checkout_token,
            "voucher_code": self.voucher_code,
            "has_discount": self.has_discount,
            "language_code": self.language_code,
            "fulfilled_at": None if self.fulfilled_at is None else self.fulfilled_at.isoformat(),
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
            refunded_goods_amount=_decimal(data.get("refunded_goods_amount")),
            refunded_shipping_amount=_decimal(data.get("refunded_shipping_amount")),
            gift_card_paid_amount=_decimal(data.get("gift_card_paid_amount")),
            lines=tuple(OrderLineSnapshot.from_json(line) for line in data.get("lines") or ()),
            checkout_token=data.get("checkout_token") or None,
            voucher_code=data.get("voucher_code") or None,
            has_discount=bool(data.get("has_discount", False)),
            language_code=str(data.get("language_code") or "en"),
            fulfilled_at=(
                datetime.fromisoformat(str(data["fulfilled_at"]))
                if data.get("fulfilled_at")
                else None
            ),
        )

    @property
    def refund_base_amount(self) -> Decimal:
        return self.goods_amount if self.goods_amount is not None else self.total_amount


def _decimal(raw: Any) -> Decimal:
    return Decimal(str(raw)) if raw not in (None, "") else Decimal(0)


@dataclass(frozen=True)
class OrderValue:
    """What an order is worth as it now stands (see ``order_value``).

    * ``goods_amount``: goods net of discounts, without shipping and tax: the points base.
    * ``refunded_goods_share``: the share (0..1) of the goods given back, by cancellation
      or refunds; the ledger takes back this share of what the order earned.
    * ``net_goods_amount``: ``goods_amount`` less that share, rounded to the cent: what the
      customer paid for the goods they kept (the tier amount and the purchase history).
    * ``gift_card_paid_amount``: what gift cards paid (already inside the goods).
    """

    goods_amount: Decimal
    refunded_goods_share: Fraction
    net_goods_amount: Decimal
    gift_card_paid_amount: Decimal
    is_cancelled: bool


def order_value(order: OrderSnapshot) -> OrderValue:
    """The one function of an order that points, tiers and the purchase history read.

    Refunds: what Saleor itemised counts as it says (goods or shipping; a refund of
    shipping only gives back no goods). What it did not itemise (a plain amount, as the
    legacy ``orderRefund`` makes) counts as goods first, up to what the goods cost, so
    returning every item gives back every point even when the shipping is kept. The share
    is of what the customer paid for the goods (gross), however they paid it: a gift card
    pays for goods like money. A cancelled order gives back all of its goods.
    """
    goods = max(order.points_base_amount, Decimal(0))
    paid_for_goods = order.refund_base_amount
    if order.is_cancelled:
        share = Fraction(1)
    elif paid_for_goods <= 0:
        share = Fraction(0)
    else:
        refunded = max(order.refunded_amount, Decimal(0))
        # Itemised parts count as they say, never for more money than was given back.
        shipping_itemised = min(max(order.refunded_shipping_amount, Decimal(0)), refunded)
        goods_itemised = min(
            max(order.refunded_goods_amount, Decimal(0)), refunded - shipping_itemised
        )
        unitemised = refunded - shipping_itemised - goods_itemised
        refunded_goods = min(paid_for_goods, goods_itemised + unitemised)
        share = Fraction(refunded_goods) / Fraction(paid_for_goods)
    kept = Fraction(goods) * (1 - share)
    net = (Decimal(kept.numerator) / Decimal(kept.denominator)).quantize(
        CENT, rounding=ROUND_HALF_UP
    )
    return OrderValue(
        goods_amount=goods,
        refunded_goods_share=share,
        net_goods_amount=max(net, Decimal(0)),
        gift_card_paid_amount=max(order.gift_card_paid_amount, Decimal(0)),
        is_cancelled=order.is_cancelled,
    )


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
