"""Small shops for the lifecycle-flow tests: orders of products with numeric Saleor ids."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from saleor_retention_plugin.domain.history import PurchaseLine, PurchaseRecord
from saleor_retention_plugin.services.purchase_history import record_purchases

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

CHANNEL = "default-channel"
T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
_ids = itertools.count(1)


def day(n: float) -> datetime:
    """Noon UTC ``n`` days after 1 January 2026."""
    return T0 + timedelta(days=n)


def line(product: str, quantity: int = 1, *, category: str = "301", ptype: str = "201"):
    return PurchaseLine(
        line_id=f"l{next(_ids)}",
        quantity=quantity,
        unit_price_net=Decimal("10.00"),
        variant_id=f"v{product}",
        product_id=product,
        product_type_id=ptype,
        category_id=category,
        sku=f"SKU-{product}",
    )


def order(customer: int | None, at: float, *lines: PurchaseLine, **changes: Any) -> PurchaseRecord:
    """A fulfilled order of ``customer`` (or a guest by email) placed on ``day(at)``."""
    values: dict[str, Any] = {
        "order_id": f"order-{next(_ids)}",
        "channel_slug": CHANNEL,
        "currency": "USD",
        "placed_at": day(at),
        "status": "fulfilled",
        "net_goods_amount": Decimal("10.00") * sum(item.quantity for item in lines),
        "customer_id": customer,
        "email": f"c{customer}@example.com" if customer else "guest@example.com",
        "lines": lines,
    }
    values.update(changes)
    return PurchaseRecord(**values)


def record(*orders: PurchaseRecord) -> None:
    record_purchases(list(orders))


class ListedProducts:
    """A fake of the shop's catalogue (the Saleor boundary): these ids are sold."""

    def __init__(self, ids: Iterable[str]) -> None:
        self.ids = set(ids)

    def sold(self, channel: str, product_ids: Collection[str], now: datetime) -> set[str]:
        return self.ids & set(product_ids)

    def names(self, channel: str, product_ids: Collection[str]) -> dict[str, str]:
        return {product_id: f"Product {product_id}" for product_id in self.ids & set(product_ids)}
