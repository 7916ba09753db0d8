"""Plain values describing a cart and an order, as the flow engine sees them.

They are built by the Saleor glue (``integrations.saleor.checkouts``), by the sandbox
or by tests from plain dicts, and travel through Celery as JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from .customers import normalise_email


@dataclass(frozen=True)
class CartActivity:
    """What the checkout hooks record: who, where, in which language, when. No lines."""

    checkout_token: str
    channel_slug: str
    customer_id: int | None
    email: str | None
    language_code: str
    currency: str
    occurred_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", normalise_email(self.email))


@dataclass(frozen=True)
class CartLine:
    product_name: str
    variant_name: str
    sku: str | None
    quantity: int
    unit_price: Decimal
    currency: str
    image_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["unit_price"] = str(self.unit_price)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CartLine:
        return cls(
            product_name=str(data["product_name"]),
            variant_name=str(data.get("variant_name") or ""),
            sku=data.get("sku"),
            quantity=int(data["quantity"]),
            unit_price=Decimal(str(data["unit_price"])),
            currency=str(data["currency"]),
            image_url=data.get("image_url"),
        )


@dataclass(frozen=True)
class CartContents:
    """The cart as it stands now: lines with current prices, and its contact.

    Lines whose variant was deleted are left out by whoever builds this (Saleor drops
    such lines itself); a cart with no lines left is empty.
    """

    currency: str
    lines: tuple[CartLine, ...] = field(default_factory=tuple)
    email: str | None = None
    customer_id: int | None = None
    timezone: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", normalise_email(self.email))

    @property
    def total(self) -> Decimal:
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal(0))

    @property
    def line_count(self) -> int:
        return len(self.lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "lines": [line.to_json() for line in self.lines],
            "email": self.email,
            "customer_id": self.customer_id,
            "timezone": self.timezone,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CartContents:
        """Build from a plain dict; lines marked ``deleted`` or with no quantity are dropped."""
        lines = tuple(
            CartLine.from_json(line)
            for line in data.get("lines") or ()
            if not line.get("deleted") and int(line.get("quantity") or 0) > 0
        )
        return cls(
            currency=str(data.get("currency") or ""),
            lines=lines,
            email=normalise_email(data.get("email")),
            customer_id=data.get("customer_id"),
            timezone=data.get("timezone") or None,
        )


@dataclass(frozen=True)
class PlacedOrder:
    """An order, as far as cart recovery cares."""

    order_id: str
    channel_slug: str
    checkout_token: str | None
    customer_id: int | None
    email: str | None
    total: Decimal
    currency: str
    placed_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", normalise_email(self.email))

    def to_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "channel_slug": self.channel_slug,
            "checkout_token": self.checkout_token,
            "customer_id": self.customer_id,
            "email": self.email,
            "total": str(self.total),
            "currency": self.currency,
            "placed_at": self.placed_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlacedOrder:
        return cls(
            order_id=str(data["order_id"]),
            channel_slug=str(data["channel_slug"]),
            checkout_token=data.get("checkout_token") or None,
            customer_id=data.get("customer_id"),
            email=data.get("email"),
            total=Decimal(str(data["total"])),
            currency=str(data["currency"]),
            placed_at=datetime.fromisoformat(data["placed_at"]),
        )
