"""Purchase records for the purchase-history tests: small, hand-countable shops."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from saleor_retention_plugin.domain.history import PurchaseLine, PurchaseRecord

CHANNEL = "default-channel"
_ids = itertools.count(1)


def purchase(
    *,
    customer_id: int | None = 42,
    email: str | None = "ann@example.com",
    placed_at: datetime | str = "2026-03-01T12:00:00+00:00",
    amount: str | Decimal = "100.00",
    lines: tuple[PurchaseLine, ...] | None = None,
    **changes: Any,
) -> PurchaseRecord:
    """A paid order of customer 42 for 100 USD of goods, one line, placed 1 March 2026."""
    if isinstance(placed_at, str):
        placed_at = datetime.fromisoformat(placed_at)
    values: dict[str, Any] = {
        "order_id": f"order-{next(_ids)}",
        "channel_slug": CHANNEL,
        "currency": "USD",
        "placed_at": placed_at,
        "status": "fulfilled",
        "net_goods_amount": Decimal(amount),
        "customer_id": customer_id,
        "email": email,
        "lines": lines
        if lines is not None
        else (
            PurchaseLine(
                line_id="l1",
                quantity=1,
                unit_price_net=Decimal(amount),
                variant_id="v1",
                product_id="p1",
                product_type_id="coffee",
                category_id="beans",
                sku="SKU-1",
            ),
        ),
    }
    values.update(changes)
    return PurchaseRecord(**values)


def at(day: str) -> datetime:
    """Noon UTC of an ISO day."""
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)
