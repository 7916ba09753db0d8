"""Orders become purchase records: lines kept, gift cards left out, discounts noticed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from saleor_retention_plugin.domain.history import purchase_record_from_snapshot


@dataclass(frozen=True)
class LineStandIn:
    """The OrderLineSnapshot contract of the order intake (domain/orders.py)."""

    line_id: str
    variant_id: str | None
    product_id: str | None
    product_type_id: str | None
    category_id: str | None
    sku: str | None
    quantity: int
    unit_price_net: Decimal
    is_gift_card: bool = False


@dataclass(frozen=True)
class SnapshotStandIn:
    order_id: str = "o-1"
    channel_slug: str = "default-channel"
    currency: str = "USD"
    customer_id: int | None = None
    email: str | None = " Ann@Example.com"
    status: str = "unfulfilled"
    created_at: datetime = datetime(2026, 3, 1, tzinfo=UTC)
    voucher_code: str | None = None
    has_discount: bool = False
    lines: tuple[LineStandIn, ...] = field(default_factory=tuple)


def test_snapshot_lines_become_purchase_lines_without_gift_cards():
    snapshot = SnapshotStandIn(
        voucher_code="SPRING",
        lines=(
            LineStandIn("l1", "v1", "p1", "t1", "c1", "SKU1", 2, Decimal("12.50")),
            LineStandIn("l2", None, None, None, None, None, 1, Decimal("50"), is_gift_card=True),
        ),
    )
    record = purchase_record_from_snapshot(snapshot, Decimal("25.00"))

    assert record.customer_key == "email:ann@example.com"
    assert (record.used_voucher, record.used_discount, record.voucher_code) == (
        True,
        True,
        "SPRING",
    )
    assert [(line.sku, line.quantity, line.total_net) for line in record.lines] == [
        ("SKU1", 2, Decimal("25.00"))
    ]
    assert record.problems(datetime(2026, 4, 1, tzinfo=UTC)) == []


def test_a_snapshot_without_lines_yet_still_records_the_order():
    @dataclass(frozen=True)
    class Bare:
        order_id: str = "o-2"
        channel_slug: str = "c"
        currency: str = "CNY"
        customer_id: int | None = 3
        email: str | None = None
        status: str = "fulfilled"
        created_at: datetime = datetime(2026, 3, 1, tzinfo=UTC)

    record = purchase_record_from_snapshot(Bare(), Decimal("-5"))
    assert (record.customer_key, record.lines, record.net_goods_amount) == (
        "customer:3",
        (),
        Decimal(0),
    )
    assert (record.used_voucher, record.used_discount) == (False, False)
