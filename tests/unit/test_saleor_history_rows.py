"""A Saleor order's purchase record survives the backfill's row format unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from saleor_retention_plugin.domain.history import PurchaseLine, PurchaseRecord
from saleor_retention_plugin.integrations.saleor.history import record_values
from saleor_retention_plugin.services.backfill import record_from_rows


def record(**changes: object) -> PurchaseRecord:
    values: dict[str, object] = {
        "order_id": "6f1c2b0e-0000-4000-8000-000000000001",
        "channel_slug": "channel-pln",
        "currency": "PLN",
        "placed_at": datetime(2024, 3, 5, 14, 30, 15, 123456, tzinfo=UTC),
        "status": "partially_fulfilled",
        "net_goods_amount": Decimal("35.00"),
        "customer_id": 42,
        "email": "ann@example.com",
        "used_voucher": True,
        "used_discount": True,
        "voucher_code": "SPRING-10",
        "lines": (
            PurchaseLine("101", 3, Decimal("10.0000"), "7", "8", "9", "10", "SKU_A"),
            PurchaseLine("102", 2, Decimal("3.3333"), None, None, None, None, None),
        ),
    }
    values.update(changes)
    return PurchaseRecord(**values)  # type: ignore[arg-type]


def test_a_record_comes_back_from_its_row_as_it_was():
    original = record()

    assert record_from_rows([record_values(original)]) == original


def test_a_guest_order_without_voucher_or_lines_comes_back_as_it_was():
    guest = record(
        customer_id=None, used_voucher=False, used_discount=False, voucher_code=None, lines=()
    )

    assert record_from_rows([record_values(guest)]) == guest


def test_a_discount_without_a_voucher_stays_a_discount_without_a_voucher():
    discounted = record(used_voucher=False, used_discount=True, voucher_code=None)

    back = record_from_rows([record_values(discounted)])

    assert (back.used_voucher, back.used_discount) == (False, True)
