"""A purchase as plain values: what the purchase history keeps of one order.

``PurchaseRecord`` is built from an ``OrderSnapshot`` (the live order intake), from a
backfill file row or from Saleor's own tables, and handed to
``services.purchase_history.record_purchase``. Money is ``Decimal`` in the order's
currency, net of tax; ``placed_at`` is timezone-aware.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .customers import normalise_email

if TYPE_CHECKING:
    from datetime import datetime

# ISO 4217 codes with their minor units; enough to refuse a typo such as "USS" in a
# backfill file. Codes outside this list are refused with a clear message.
KNOWN_CURRENCIES = frozenset(
    {
        "AED",
        "ARS",
        "AUD",
        "BDT",
        "BGN",
        "BHD",
        "BRL",
        "CAD",
        "CHF",
        "CLP",
        "CNY",
        "COP",
        "CZK",
        "DKK",
        "EGP",
        "EUR",
        "GBP",
        "HKD",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "ISK",
        "JOD",
        "JPY",
        "KES",
        "KRW",
        "KWD",
        "MAD",
        "MXN",
        "MYR",
        "NGN",
        "NOK",
        "NZD",
        "OMR",
        "PEN",
        "PHP",
        "PKR",
        "PLN",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "SAR",
        "SEK",
        "SGD",
        "THB",
        "TRY",
        "TWD",
        "UAH",
        "USD",
        "VND",
        "ZAR",
    }
)

# Saleor's order statuses that are not (yet, or any more) a purchase: they are kept in
# the history (the order exists) but never counted as an order by the metrics.
NOT_A_PURCHASE_STATUSES = frozenset({"draft", "unconfirmed", "expired", "canceled"})


@dataclass(frozen=True)
class SourceRow:
    """One row of a backfill source: its 1-based line number and its fields (text or JSON)."""

    line_number: int
    values: dict[str, Any]


class InvalidPurchase(ValueError):
    """A purchase record that cannot be stored; the message names the field."""


@dataclass(frozen=True)
class PurchaseLine:
    """One order line: ``quantity`` units at ``unit_price_net`` (order currency, no tax)."""

    line_id: str
    quantity: int
    unit_price_net: Decimal
    variant_id: str | None = None
    product_id: str | None = None
    product_type_id: str | None = None
    category_id: str | None = None
    sku: str | None = None

    @property
    def total_net(self) -> Decimal:
        return self.unit_price_net * self.quantity


@dataclass(frozen=True)
class PurchaseRecord:
    """One order as the purchase history keeps it.

    ``net_goods_amount``: what the customer paid for the goods, net of tax, after every
    discount and minus refunds (never below zero); the currency is ``currency``.
    ``customer_id`` is Saleor's ``account.User`` pk, ``email`` the order's email
    (normalised here); a guest order has only the email.
    """

    order_id: str
    channel_slug: str
    currency: str
    placed_at: datetime
    status: str
    net_goods_amount: Decimal
    customer_id: int | None = None
    email: str | None = None
    used_voucher: bool = False
    used_discount: bool = False
    voucher_code: str | None = None
    lines: tuple[PurchaseLine, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", normalise_email(self.email))

    @property
    def customer_key(self) -> str:
        """``customer:<id>`` for a customer, ``email:<address>`` for a guest."""
        return customer_key(self.customer_id, self.email)

    @property
    def counts_as_purchase(self) -> bool:
        return self.status not in NOT_A_PURCHASE_STATUSES

    def problems(self, now: datetime) -> list[str]:
        """What makes this record unfit to store; empty when it is fine."""
        found = []
        if not self.order_id:
            found.append("missing order id")
        if not self.channel_slug:
            found.append("missing channel")
        if self.customer_id is None and self.email is None:
            found.append("missing customer id and email")
        if self.currency not in KNOWN_CURRENCIES:
            found.append(f"unknown currency {self.currency!r}")
        if self.placed_at.tzinfo is None:
            found.append("placed_at has no timezone")
        elif self.placed_at > now:
            found.append(f"placed_at {self.placed_at.isoformat()} is in the future")
        if self.net_goods_amount < 0:
            found.append("negative net goods amount")
        seen: set[str] = set()
        for line in self.lines:
            if not line.line_id:
                found.append("a line without a line id")
            elif line.line_id in seen:
                found.append(f"order line {line.line_id} appears twice")
            seen.add(line.line_id)
            if line.quantity <= 0:
                found.append(f"order line {line.line_id}: quantity must be positive")
            if line.unit_price_net < 0:
                found.append(f"order line {line.line_id}: negative unit price")
        return found


def customer_key(customer_id: int | None, email: str | None) -> str:
    if customer_id is not None:
        return f"customer:{customer_id}"
    normalised = normalise_email(email)
    if normalised is None:
        raise InvalidPurchase("A purchase needs a customer id or an email address.")
    return f"email:{normalised}"


def purchase_record_from_snapshot(snapshot: Any, net_goods_amount: Decimal) -> PurchaseRecord:
    """The purchase history's view of an ``OrderSnapshot`` (``domain.orders``).

    ``net_goods_amount`` is computed by the caller (the order intake knows the refunds
    and the tax). Reads ``lines``, ``voucher_code`` and ``has_discount`` when the snapshot
    has them (the order intake adds them); gift card lines are not goods and are left out.
    """
    voucher_code = getattr(snapshot, "voucher_code", None) or None
    lines = tuple(
        PurchaseLine(
            line_id=str(line.line_id),
            quantity=int(line.quantity),
            unit_price_net=Decimal(line.unit_price_net),
            variant_id=line.variant_id,
            product_id=line.product_id,
            product_type_id=line.product_type_id,
            category_id=line.category_id,
            sku=line.sku,
        )
        for line in getattr(snapshot, "lines", ())
        if not getattr(line, "is_gift_card", False)
    )
    return PurchaseRecord(
        order_id=str(snapshot.order_id),
        channel_slug=snapshot.channel_slug,
        currency=snapshot.currency,
        placed_at=snapshot.created_at,
        status=snapshot.status,
        net_goods_amount=max(Decimal(net_goods_amount), Decimal(0)),
        customer_id=snapshot.customer_id,
        email=snapshot.email,
        used_voucher=voucher_code is not None,
        used_discount=bool(getattr(snapshot, "has_discount", False)) or voucher_code is not None,
        voucher_code=voucher_code,
        lines=lines,
    )
