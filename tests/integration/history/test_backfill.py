"""Backfill reads past orders from files: whole orders only, resumable, twice is once."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO
from typing import TYPE_CHECKING

import pytest
from django.core.management import CommandError, call_command

from saleor_retention_plugin.models import (
    BackfillCheckpoint,
    LoyaltyAccount,
    PurchasedLine,
    PurchasedOrder,
)
from saleor_retention_plugin.services.backfill import file_rows, run_backfill

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.django_db


def order(n: int, **changes) -> dict:
    values = {
        "order_id": f"o{n}",
        "channel": "default-channel",
        "customer_id": 100 + n % 3,
        "placed_at": f"2025-01-{n:02d}T10:00:00+00:00",
        "currency": "USD",
        "net_goods_amount": f"{n}0.00",
    }
    values.update(changes)
    return values


def write_jsonl(path: Path, rows: list) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def backfill(*args: str) -> str:
    out = StringIO()
    call_command("retention_backfill", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def stored() -> list[tuple]:
    return list(
        PurchasedOrder.objects.order_by("order_id").values_list(
            "order_id", "customer_key", "net_goods_amount"
        )
    )


def test_json_lines_of_whole_orders_are_imported_with_their_nested_lines(tmp_path):
    line = {"line_id": "a", "sku": "TEA", "quantity": 2, "unit_price_net": "5.00"}
    path = write_jsonl(tmp_path / "orders.jsonl", [order(1, lines=[line]), order(2)])

    output = backfill("--file", path)

    assert "2 rows read: imported 2 orders, skipped 0 bad orders" in output
    assert stored() == [
        ("o1", "customer:101", Decimal("10.00")),
        ("o2", "customer:102", Decimal("20.00")),
    ]
    assert list(PurchasedLine.objects.values_list("sku", "quantity")) == [("TEA", 2)]


def test_csv_with_one_line_per_row_groups_consecutive_rows_into_one_order(tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text(
        "order_id,channel,email,placed_at,currency,line_id,sku,quantity,unit_price_net\n"
        "A,web,Guest@Example.com,2025-02-01,CNY,1,TEA,2,30.00\n"
        "A,web,Guest@Example.com,2025-02-01,CNY,2,CUP,1,15.50\n"
        "B,web,guest@example.com,2025-02-03,CNY,1,TEA,1,30.00\n"
    )
    backfill("--file", str(path))

    assert stored() == [
        ("A", "email:guest@example.com", Decimal("75.50")),
        ("B", "email:guest@example.com", Decimal("30.00")),
    ]
    assert PurchasedLine.objects.filter(order__order_id="A").count() == 2


def test_bad_rows_are_counted_reported_with_their_line_and_skipped(tmp_path):
    rows = [
        order(1),
        order(2, currency="XXY"),
        order(3, net_goods_amount="-4"),
        order(4, order_id=""),
        order(5, placed_at="2999-01-01"),
        order(6, lines=[{"line_id": "x", "quantity": "two", "unit_price_net": "1"}]),
        "{not json",
        order(8),
    ]
    path = write_jsonl(tmp_path / "orders.jsonl", rows)

    output = backfill("--file", path)

    assert "imported 2 orders, skipped 6 bad orders" in output
    assert "line 2: unknown currency 'XXY'" in output
    assert "line 3: negative net goods amount" in output
    assert "line 4: missing order_id" in output
    assert "line 5: placed_at 2999-01-01T00:00:00+00:00 is in the future" in output
    assert "line 6: malformed order line x: quantity is not a whole number" in output
    assert "line 7: not valid JSON" in output
    assert [row[0] for row in stored()] == ["o1", "o8"]


def test_a_malformed_line_skips_its_whole_order_never_half_of_it(tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text(
        "order_id,channel,customer_id,placed_at,currency,line_id,quantity,unit_price_net\n"
        "A,web,1,2025-02-01,USD,1,1,10\n"
        "A,web,1,2025-02-01,USD,2,1,-3\n"
    )
    output = backfill("--file", str(path))
    assert "line 2: order line 2: negative unit price" in output
    assert PurchasedOrder.objects.count() == PurchasedLine.objects.count() == 0


def test_running_the_same_file_twice_changes_nothing(tmp_path):
    path = write_jsonl(tmp_path / "orders.jsonl", [order(n) for n in range(1, 8)])
    backfill("--file", path, "--batch-size", "3")
    first = stored()

    again = backfill("--file", path, "--batch-size", "3")

    assert "imported 0 orders" in again
    assert stored() == first
    assert len(first) == 7


def test_an_interrupted_backfill_resumes_after_its_checkpoint_and_ends_as_one_run(tmp_path):
    path = write_jsonl(tmp_path / "orders.jsonl", [order(n) for n in range(1, 11)])

    def crash_after_first_batch(done, report):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_backfill("f", file_rows(path), batch_size=4, progress=crash_after_first_batch)
    assert PurchasedOrder.objects.count() == 4
    assert BackfillCheckpoint.objects.get().position == 4

    resumed = run_backfill("f", file_rows(path), batch_size=4)

    assert (resumed.resumed_from, resumed.orders_imported) == (4, 6)
    assert [row[0] for row in stored()] == sorted(f"o{n}" for n in range(1, 11))


def test_channel_and_dates_filter_what_is_imported(tmp_path):
    rows = [order(1), order(2, channel="other"), order(3), order(9)]
    path = write_jsonl(tmp_path / "orders.jsonl", rows)

    output = backfill(
        "--file",
        path,
        "--channel",
        "default-channel",
        "--since",
        "2025-01-02",
        "--until",
        "2025-01-05",
    )

    assert "imported 1 orders" in output
    assert "left out 3" in output
    assert [row[0] for row in stored()] == ["o3"]


def test_dry_run_with_points_prints_per_customer_and_total_and_changes_nothing(tmp_path):
    path = write_jsonl(
        tmp_path / "orders.jsonl", [order(1), order(2), order(4), order(5, status="canceled")]
    )

    output = backfill("--file", path, "--dry-run", "--credit-points")

    assert "default-channel customer:101: 50 points" in output  # orders 1 and 4
    assert "default-channel customer:102: 20 points" in output  # order 5 is cancelled
    assert "Would credit 70 points in total." in output
    assert PurchasedOrder.objects.count() == BackfillCheckpoint.objects.count() == 0
    assert LoyaltyAccount.objects.count() == 0


def test_crediting_points_earns_once_per_order_however_often_it_runs(tmp_path):
    path = write_jsonl(tmp_path / "orders.jsonl", [order(1), order(4)])
    assert "Credited 50 points in total." in backfill("--file", path, "--credit-points")
    BackfillCheckpoint.objects.all().delete()  # even a fresh run from the start
    assert "Credited 0 points in total." in backfill("--file", path, "--credit-points")
    assert LoyaltyAccount.objects.get(customer_id=101).balance == 50


def test_an_unknown_file_type_is_refused_with_a_clear_message(tmp_path):
    (tmp_path / "orders.xlsx").write_text("x")
    with pytest.raises(CommandError, match=r"Unknown file format '\.xlsx'"):
        backfill("--file", str(tmp_path / "orders.xlsx"))
