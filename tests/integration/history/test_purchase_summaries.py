"""The kept purchase summaries equal what the orders say, whatever happened in what order.

The triggers of migration 0018 keep order days, days per product type and category, and
per-customer totals (models/summaries.py). Here random event sequences (new orders,
repeated and out-of-order events, refunds, cancellations, guest merges, anonymisation,
two channels and currencies) must leave kept rows equal to a recomputation from
``PurchasedOrder`` in Python, and the report read from them must give the figures the
one-pass path gives.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from saleor_retention_plugin.domain.history import PurchaseLine
from saleor_retention_plugin.models import PurchasedOrder, PurchaseSummary, SegmentFit
from saleor_retention_plugin.selectors import purchases
from saleor_retention_plugin.selectors.report import build_report
from saleor_retention_plugin.services.purchase_history import (
    anonymise_purchases,
    merge_guest_purchases,
    record_purchases,
)
from saleor_retention_plugin.services.purchase_summaries import (
    find_summary_drift,
    keep_summaries_in,
    rebuild_summaries,
)
from saleor_retention_plugin.services.segments import refresh_segments

from .factories import CHANNEL, purchase

pytestmark = pytest.mark.django_db

OTHER = "other-channel"
EMAILS = [f"guest{i}@example.com" for i in range(4)]


def expected_summaries() -> dict[tuple[str, str, str], tuple[object, ...]]:
    """Each (channel, currency, customer)'s summary, computed here from the orders (UTC)."""
    days: dict[tuple[str, str, str], dict[date, list[PurchasedOrder]]] = {}
    for order in PurchasedOrder.objects.filter(counts=True, net_goods_amount__gt=0):
        key = (order.channel_slug, order.currency, order.customer_key)
        days.setdefault(key, {}).setdefault(order.placed_at.astimezone(UTC).date(), []).append(
            order
        )
    result: dict[tuple[str, str, str], tuple[object, ...]] = {}
    for key, by_day in days.items():
        ordered = sorted(by_day)
        orders = [order for day in ordered for order in by_day[day]]
        result[key] = (
            ordered[0],
            ordered[1] if len(ordered) > 1 else None,
            ordered[-1],
            len(orders),
            len(ordered),
            sum((order.net_goods_amount for order in orders), Decimal(0)),
            sum(
                (order.net_goods_amount for day in ordered[1:] for order in by_day[day]),
                Decimal(0),
            ),
            sum(order.used_discount for order in orders),
        )
    return result


def kept_summaries() -> dict[tuple[str, str, str], tuple[object, ...]]:
    return {
        (row.channel_slug, row.currency, row.customer_key): (
            row.first_day, row.second_day, row.last_day, row.orders, row.order_days,
            row.revenue, row.repeat_revenue, row.discount_orders,
        )
        for row in PurchaseSummary.objects.all()
    }  # fmt: skip


def random_order(rng: random.Random, order_id: str):
    guest = rng.random() < 0.3
    kind = rng.choice(["coffee", "tea", None])
    return purchase(
        order_id=order_id,
        customer_id=None if guest else rng.randint(1, 6),
        email=rng.choice(EMAILS) if guest else None,
        channel_slug=rng.choice([CHANNEL, CHANNEL, OTHER]),
        currency=rng.choice(["USD", "USD", "USD", "EUR"]),
        placed_at=datetime(2026, 1, 1, tzinfo=UTC)
        + timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23)),
        amount=Decimal(rng.randint(0, 90)) + Decimal("9.99"),
        used_discount=rng.random() < 0.4,
        status=rng.choice(["fulfilled"] * 5 + ["canceled", "unconfirmed"]),
        lines=tuple(
            PurchaseLine(
                line_id=f"l{i}", quantity=1, unit_price_net=Decimal(10),
                product_type_id=kind, category_id=rng.choice(["beans", "cups"]),
            )
            for i in range(rng.randint(0, 2))
        ),
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
def test_kept_summaries_equal_the_orders_after_random_events(seed):
    rng = random.Random(seed)
    order_ids = [f"o{seed}-{i}" for i in range(25)]
    for _ in range(70):
        roll = rng.random()
        if roll < 0.08:
            merge_guest_purchases(rng.randint(1, 6), rng.choice(EMAILS))
        elif roll < 0.11:
            anonymise_purchases(rng.randint(1, 6))
        elif roll < 0.2:  # a refund in full, or a change, of an order already recorded
            order_id = rng.choice(order_ids)
            PurchasedOrder.objects.filter(order_id=order_id).update(
                net_goods_amount=rng.choice([Decimal(0), Decimal("12.50")])
            )
        elif roll < 0.25:
            PurchasedOrder.objects.filter(order_id=rng.choice(order_ids)).delete()
        else:  # a new order, or the same order again as it stands now (any event order)
            batch = [random_order(rng, rng.choice(order_ids)) for _ in range(rng.choice([1, 3]))]
            record_purchases(batch)

    assert kept_summaries() == expected_summaries()
    assert find_summary_drift(CHANNEL) == []
    assert find_summary_drift(OTHER) == []


def test_a_repeated_event_rewrites_nothing_kept():
    record = purchase(order_id="same", placed_at="2026-02-01T10:00:00+00:00")
    record_purchases([record])
    # The triggers replace a customer's rows when they recompute them: new ids.
    before = PurchaseSummary.objects.get().pk
    record_purchases([record])
    assert PurchaseSummary.objects.get().pk == before
    record_purchases([replace(record, used_discount=True)])
    assert PurchaseSummary.objects.get().pk != before
    assert kept_summaries() == expected_summaries()


def test_verify_finds_drift_and_rebuild_repairs_it():
    record_purchases(
        [purchase(placed_at=f"2026-02-0{day}T10:00:00+00:00") for day in (1, 3, 7)]
        + [purchase(customer_id=7, placed_at="2026-02-02T10:00:00+00:00")]
    )
    PurchaseSummary.objects.filter(customer_key="customer:42").update(orders=99)
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM saleor_retention_plugin_purchaseday WHERE customer_key = 'customer:7'"
        )

    drift = find_summary_drift(CHANNEL)
    assert [(row.customer_key, row.tables) for row in drift] == [
        ("customer:42", ("summaries",)),
        ("customer:7", ("days",)),
    ]
    with pytest.raises(CommandError, match="2 customers drifted"):
        call_command("retention_summaries", "--verify")
    call_command("retention_summaries", "--rebuild")
    assert find_summary_drift(CHANNEL) == []
    assert kept_summaries() == expected_summaries()
    assert rebuild_summaries(CHANNEL) == 2


def test_the_report_from_kept_rows_equals_the_one_pass_report():
    rng = random.Random(9)
    record_purchases([random_order(rng, f"r{i}") for i in range(120)])
    args = (CHANNEL, date(2026, 1, 1), date(2026, 3, 1))
    zone = "America/New_York"

    assert not purchases.channel_scope(CHANNEL, zone, date(2026, 3, 31)).kept
    one_pass = build_report(*args, tz=zone, as_of=date(2026, 3, 31), predict=False)
    assert keep_summaries_in(CHANNEL, zone)
    assert purchases.channel_scope(CHANNEL, zone, date(2026, 3, 31)).kept
    assert find_summary_drift(CHANNEL) == []
    kept = build_report(*args, tz=zone, as_of=date(2026, 3, 31), predict=False)
    assert kept == one_pass
    # An as-of day before the last order: the kept rows hold too much, the one pass answers.
    assert not purchases.channel_scope(CHANNEL, zone, date(2026, 1, 20)).kept


def test_the_report_reuses_the_refresh_fit_until_an_order_changes_it():
    rng = random.Random(3)
    records = []
    for customer in range(1, 80):
        first = datetime(2025, 1, 1, 12, tzinfo=UTC) + timedelta(days=rng.randint(0, 200))
        for n in range(rng.choice([1, 1, 2, 3, 5])):
            records.append(
                purchase(
                    customer_id=customer, email=None,
                    placed_at=first + timedelta(days=n * rng.randint(5, 40)),
                    amount=Decimal(rng.randint(10, 90)),
                )
            )  # fmt: skip
    record_purchases(records)
    args = (CHANNEL, date(2025, 1, 1), date(2026, 1, 1))
    as_of = date(2025, 12, 31)

    fitted = build_report(*args, as_of=as_of)
    assert fitted["predicted"]["fit_source"] == "fitted"
    refresh_segments(CHANNEL, "UTC", as_of)
    stored_fit = SegmentFit.objects.get()
    assert (stored_fit.customers, stored_fit.as_of) == (79, as_of)
    stored = build_report(*args, as_of=as_of)
    assert stored["predicted"]["fit_source"] == "stored"
    assert stored["predicted"]["fitted_at"] == stored_fit.fitted_at.isoformat()

    def same(report):
        return replace_keys(report, fit_source=None, fitted_at=None)

    assert same(stored) == same(fitted)

    record_purchases([purchase(customer_id=5, email=None, placed_at="2025-12-30T12:00:00+00:00")])
    assert build_report(*args, as_of=as_of)["predicted"]["fit_source"] == "fitted"


def replace_keys(report, **values):
    predicted = dict(report["predicted"], **values)
    # Sums of floats in another order may differ in the last place.
    predicted["mean_probability_alive"] = round(predicted["mean_probability_alive"] or 0, 9)
    predicted["expected_orders"] = round(predicted["expected_orders"] or 0, 6)
    return dict(report, predicted=predicted)


def test_orders_of_a_channel_kept_in_another_timezone_move_days():
    record_purchases([purchase(placed_at="2026-02-01T02:00:00+00:00")])
    assert PurchaseSummary.objects.get().first_day == date(2026, 2, 1)
    keep_summaries_in(CHANNEL, "America/Los_Angeles")
    assert PurchaseSummary.objects.get().first_day == date(2026, 1, 31)
    record_purchases([purchase(placed_at="2026-02-03T02:00:00+00:00")])
    summary = PurchaseSummary.objects.get()
    assert (summary.second_day, summary.order_days) == (date(2026, 2, 2), 2)
    assert find_summary_drift(CHANNEL) == []
    assert not purchases.channel_scope(CHANNEL, "UTC", date(2026, 3, 1)).kept


def backfill_file(path, rng: random.Random, *, cancelled: float) -> str:
    """Orders of 12 customers and 4 guests in two channels, one JSON line each."""
    rows = []
    for n in range(60):
        guest = n % 4 == 0
        kinds = rng.sample(["coffee", "tea", "cups"], rng.randint(0, 2))
        lines = [
            {"line_id": str(i), "quantity": 1, "unit_price_net": "9.99",
             "product_type_id": kind, "category_id": f"c-{kind}"}
            for i, kind in enumerate(kinds)
        ]  # fmt: skip
        rows.append(
            {
                "order_id": f"o{n}",
                "channel": CHANNEL if n % 3 else OTHER,
                "customer_id": None if guest else rng.randint(1, 12),
                "email": EMAILS[n % 4] if guest else None,
                "placed_at": (
                    datetime(2025, 11, 1, tzinfo=UTC) + timedelta(hours=rng.randint(0, 900))
                ).isoformat(),
                "status": "cancelled" if rng.random() < cancelled else "fulfilled",
                "currency": "USD" if n % 3 else "EUR",
                "net_goods_amount": rng.choice(["0", "9.99", "25.00", "120.50"]),
                "used_discount": rng.random() < 0.3,
                "lines": lines,
            }
        )
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_a_backfill_leaves_summaries_that_verify_against_its_orders(tmp_path):
    """Batches of 7 split customers' orders across statements; a second file changes them."""
    rng = random.Random(9)
    first = backfill_file(tmp_path / "first.jsonl", rng, cancelled=0.1)
    call_command("retention_backfill", "--file", first, "--batch-size", "7", stdout=StringIO())

    out = StringIO()
    call_command("retention_summaries", "--verify", stdout=out)
    assert "Every kept purchase summary matches its orders." in out.getvalue()
    assert PurchaseSummary.objects.filter(channel_slug=OTHER).exists()
    assert kept_summaries() == expected_summaries()

    # The same orders as they stand later: other amounts, days, statuses, kinds and owners.
    changed = backfill_file(tmp_path / "changed.jsonl", rng, cancelled=0.4)
    call_command("retention_backfill", "--file", changed, "--batch-size", "7", stdout=StringIO())

    assert find_summary_drift(CHANNEL) == find_summary_drift(OTHER) == []
    assert kept_summaries() == expected_summaries()
    assert PurchasedOrder.objects.count() == 60


def resummarise_calls() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT funcname, calls FROM pg_stat_xact_user_functions "
            "WHERE funcname LIKE 'retention_resummarise%%'"
        )
        return dict(cursor.fetchall())


def test_a_batch_of_orders_is_summarised_in_one_call_not_one_per_order():
    """Statement-level triggers run once per statement: one statement per table and batch."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL track_functions = 'pl'")
    batch = [
        purchase(customer_id=n, placed_at=f"2026-02-{n % 28 + 1:02d}T10:00:00+00:00")
        for n in range(1, 41)
    ]

    record_purchases(batch)

    # The orders' trigger recomputes the 40 customers once (with their kinds), the lines'
    # trigger their kinds once more.
    assert resummarise_calls() == {"retention_resummarise": 1, "retention_resummarise_kinds": 2}
    assert kept_summaries() == expected_summaries()
    assert find_summary_drift(CHANNEL) == []


def test_a_report_in_another_timezone_than_the_kept_one_computes_from_the_orders():
    """The refresh keeps Los Angeles days; a UTC report takes the one pass, exact and slower."""
    rng = random.Random(5)
    record_purchases([random_order(rng, f"tz{i}") for i in range(80)])
    args = (CHANNEL, date(2026, 1, 1), date(2026, 3, 1))
    as_of = date(2026, 3, 31)
    refresh_segments(CHANNEL, "America/Los_Angeles", as_of)

    assert not purchases.channel_scope(CHANNEL, "UTC", as_of).kept
    in_utc = build_report(*args, tz="UTC", as_of=as_of)

    # The report read the orders and left the kept rows in the refresh's timezone.
    assert purchases.channel_scope(CHANNEL, "America/Los_Angeles", as_of).kept
    assert in_utc["predicted"]["fit_source"] == "fitted"
    assert keep_summaries_in(CHANNEL, "UTC")
    assert purchases.channel_scope(CHANNEL, "UTC", as_of).kept
    assert build_report(*args, tz="UTC", as_of=as_of) == in_utc
