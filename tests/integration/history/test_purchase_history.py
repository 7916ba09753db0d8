"""The purchase history keeps one row per order, follows guests into accounts, forgets people."""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from saleor_retention_plugin.domain.history import InvalidPurchase, PurchaseLine
from saleor_retention_plugin.models import PurchasedLine, PurchasedOrder
from saleor_retention_plugin.services.purchase_history import (
    anonymise_purchases,
    merge_guest_purchases,
    record_purchase,
    record_purchases,
)

from .factories import purchase

pytestmark = pytest.mark.django_db


def test_recording_an_order_twice_keeps_one_row_with_the_latest_state():
    order = purchase(amount="100.00")
    record_purchase(order)
    refunded = dataclasses.replace(
        order,
        status="partially_returned",
        net_goods_amount=Decimal("60.00"),
        lines=(PurchaseLine(line_id="l1", quantity=2, unit_price_net=Decimal("30.00")),),
    )
    record_purchase(refunded)
    record_purchase(refunded)

    row = PurchasedOrder.objects.get()
    assert (row.order_id, row.status, row.net_goods_amount) == (
        order.order_id,
        "partially_returned",
        Decimal("60.00"),
    )
    assert list(PurchasedLine.objects.values_list("line_id", "quantity", "unit_price_net")) == [
        ("l1", 2, Decimal("30.00"))
    ]


def test_a_cancelled_order_is_kept_but_does_not_count_as_a_purchase():
    order = purchase()
    record_purchase(order)
    record_purchase(dataclasses.replace(order, status="canceled"))
    assert PurchasedOrder.objects.get().counts is False


def test_customer_key_is_the_id_or_the_normalised_email():
    record_purchase(purchase(customer_id=7, email="x@example.com"))
    record_purchase(purchase(customer_id=None, email="  Bob@Example.COM "))
    assert sorted(PurchasedOrder.objects.values_list("customer_key", flat=True)) == [
        "customer:7",
        "email:bob@example.com",
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"currency": "USS"}, "unknown currency 'USS'"),
        ({"net_goods_amount": Decimal("-1")}, "negative net goods amount"),
        ({"customer_id": None, "email": None}, "missing customer id and email"),
        ({"order_id": ""}, "missing order id"),
        ({"placed_at": "2999-01-01T00:00:00+00:00"}, "is in the future"),
        (
            {"lines": (PurchaseLine(line_id="l1", quantity=0, unit_price_net=Decimal(1)),)},
            "quantity must be positive",
        ),
    ],
)
def test_a_bad_record_is_refused_and_writes_nothing(changes, message):
    good = purchase()
    with pytest.raises(InvalidPurchase, match=message):
        record_purchases([good, purchase(**changes)])
    assert PurchasedOrder.objects.count() == 0


def test_a_registered_guest_brings_their_orders_and_a_late_guest_event_does_not_split_them():
    guest_order = purchase(customer_id=None, email="Bob@example.com")
    record_purchase(guest_order)
    record_purchase(purchase(customer_id=None, email="other@example.com"))

    assert merge_guest_purchases(9, "bob@EXAMPLE.com") == 1
    assert merge_guest_purchases(9, "bob@example.com") == 0
    record_purchase(guest_order)  # a late event of the guest order, still with no user

    assert sorted(PurchasedOrder.objects.values_list("customer_key", "customer_id")) == [
        ("customer:9", 9),
        ("email:other@example.com", None),
    ]


def test_an_anonymised_customer_keeps_totals_and_repeat_orders_but_nothing_personal():
    record_purchase(purchase(customer_id=5, email="eve@example.com", voucher_code="EVE10"))
    record_purchase(purchase(customer_id=5, email="eve@example.com"))
    record_purchase(purchase(customer_id=None, email="eve@example.com"))
    record_purchase(purchase(customer_id=6, email="eve@example.com"))  # someone else, same email

    assert anonymise_purchases(5, "eve@example.com") == 3

    forgotten = PurchasedOrder.objects.exclude(customer_id=6)
    assert forgotten.values("customer_key").distinct().count() == 1
    assert forgotten[0].customer_key.startswith("anonymised:")
    assert set(forgotten.values_list("customer_id", "email", "voucher_code")) == {
        (None, None, None)
    }
    assert sum(row.net_goods_amount for row in forgotten) == Decimal("300.00")
    assert PurchasedOrder.objects.get(customer_id=6).email == "eve@example.com"
    # A late event for a forgotten order does not bring the person back.
    assert anonymise_purchases(5, "eve@example.com") == 0


def test_a_new_customer_takes_over_guest_orders_that_earned_no_points(
    django_capture_on_commit_callbacks,
):
    # A backfill without --credit-points stores guest orders but opens no guest account.
    from django.contrib.auth import get_user_model

    record_purchase(purchase(customer_id=None, email="Kim@example.com"))

    with django_capture_on_commit_callbacks(execute=True):
        user = get_user_model().objects.create(username="kim", email="kim@example.com")

    assert list(PurchasedOrder.objects.values_list("customer_key", "customer_id")) == [
        (f"customer:{user.pk}", user.pk)
    ]


class TestLinesRecordedAgain:
    """An order recorded again keeps its stored lines when they are what it would write."""

    def lines_statements(self, record) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            record_purchase(record)
        # The statements whose table is the lines' (not the order upsert's).
        return [
            q["sql"].split(None, 1)[0].upper()
            for q in queries
            if (table := re.search(r'(?:FROM|INTO)\s+"?(\w+)', q["sql"]))
            and table.group(1) == PurchasedLine._meta.db_table
        ]

    def test_unchanged_lines_are_read_not_rewritten(self):
        order = purchase()
        record_purchase(order)
        kept = list(PurchasedLine.objects.values_list("pk", flat=True))

        statements = self.lines_statements(dataclasses.replace(order, status="returned"))

        assert statements == ["SELECT"]
        assert list(PurchasedLine.objects.values_list("pk", flat=True)) == kept

    @pytest.mark.parametrize(
        "lines",
        [
            (PurchaseLine(line_id="l1", quantity=2, unit_price_net=Decimal("50.00")),),
            (
                PurchaseLine(line_id="l1", quantity=1, unit_price_net=Decimal("100.00")),
                PurchaseLine(line_id="l2", quantity=1, unit_price_net=Decimal("5.00")),
            ),
            (),
        ],
        ids=["changed", "added", "removed"],
    )
    def test_changed_lines_are_replaced(self, lines):
        order = purchase()
        record_purchase(order)

        record_purchase(dataclasses.replace(order, lines=lines))

        assert sorted(
            PurchasedLine.objects.values_list("line_id", "quantity", "unit_price_net")
        ) == sorted((line.line_id, line.quantity, line.unit_price_net) for line in lines)

    def test_a_price_finer_than_cents_is_written_again_rounded(self):
        line = PurchaseLine(line_id="l1", quantity=1, unit_price_net=Decimal("10.005"))
        order = purchase(amount="10.01", lines=(line,))
        record_purchase(order)

        statements = self.lines_statements(order)

        assert statements == ["SELECT", "DELETE", "INSERT"]

    def test_a_new_order_reads_no_lines(self):
        assert self.lines_statements(purchase()) == ["INSERT"]
