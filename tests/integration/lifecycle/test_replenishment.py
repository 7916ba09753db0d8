"""Replenishment: the kept run-outs of a hand-computed shop, who is due, and what stops it.

The shop (days after 1 January 2026, noon UTC; category 301 is mapped to the ``beauty``
preset, 30-60 days, so 45; lead 3 days; every other product is in category 399):

| customer | product | orders (day x quantity) | interval | run-out | due |
|---|---|---|---|---|---|
| 1 | 101 | 0x1, 30x1, 60x2 | own median 30 (no product median or cycle) | 60 + 45 = 105 | 102 |
| 2 | 102 | 0, 10, 20, 30 | (3 * 10 + 2 * 10) / 5 = 10 (shrunk to the median) | 40 | 37 |
| 3 | 102 | 0, 40, 80 | (2 * 40 + 2 * 10) / 4 = 25 | 105 | 102 |
| 4 | 102 | 100x2 | 102's median of [10, 10, 10, 40, 40] = 10 (first purchase: x1) | 110 | 107 |
| 5 | 103 | 150 | configured (category 301): 45 | 195 | 192 |
| guest | 103 | 160 | configured: 45 | 205 | 202 |
| 6 | 104 | 150 | nothing known: no row | | |

Customer 1's last order holds 2 units against a mean of 4/3: it lasts 1.5 intervals.
Left out: customer 7 (anonymised), 8 (cancelled order), 9 (refunded in full).
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.models import ReplenishmentDue
from saleor_retention_plugin.services import replenishment
from saleor_retention_plugin.services.purchase_history import (
    anonymise_purchases,
    merge_guest_purchases,
)
from saleor_retention_plugin.services.recommendations import RecentlySold

from .factories import CHANNEL, ListedProducts, day, line, order, record

pytestmark = pytest.mark.django_db

SETTINGS = ChannelSettings.from_configuration(
    {"replenishment_cycles": "category:301 = beauty", "replenishment_lead_days": "3"}
).replenishment
NOW = day(200)
EVERYTHING = ListedProducts({"101", "102", "103", "104"})


def o(customer, at, product, quantity=1, category="399", **changes):
    return order(customer, at, line(product, quantity, category=category), **changes)


@pytest.fixture
def shop():
    record(
        o(1, 0, "101"), o(1, 30, "101"), o(1, 60, "101", 2),
        *(o(2, at, "102") for at in (0, 10, 20, 30)),
        *(o(3, at, "102") for at in (0, 40, 80)),
        o(4, 100, "102", 2),
        o(5, 150, "103", category="301"),
        o(None, 160, "103", category="301"),
        o(6, 150, "104"),
        o(7, 0, "101"), o(7, 30, "101"),
        o(8, 100, "103", category="301", status="canceled"),
        o(9, 100, "103", category="301", net_goods_amount=0),
    )  # fmt: skip
    anonymise_purchases(7, "c7@example.com")


def stored():
    return {
        (row.customer_key, row.product_id): (
            row.interval_source,
            round(row.interval_days, 6),
            row.run_out_at,
            row.due_at,
        )
        for row in ReplenishmentDue.objects.filter(channel_slug=CHANNEL)
    }


EXPECTED = {
    ("customer:1", "101"): ("own", 30.0, day(105), day(102)),
    ("customer:2", "102"): ("shrunk", 10.0, day(40), day(37)),
    ("customer:3", "102"): ("shrunk", 25.0, day(105), day(102)),
    ("customer:4", "102"): ("product", 10.0, day(110), day(107)),
    ("customer:5", "103"): ("configured", 45.0, day(195), day(192)),
    ("email:guest@example.com", "103"): ("configured", 45.0, day(205), day(202)),
}


@pytest.mark.parametrize("set_based", [True, False], ids=["sql", "pure-rules"])
def test_the_refresh_keeps_the_hand_computed_run_outs(shop, set_based):
    result = replenishment.refresh_replenishment(CHANNEL, SETTINGS, now=NOW, set_based=set_based)

    assert stored() == EXPECTED
    assert result.planned == len(EXPECTED)


def test_refreshing_again_changes_nothing_and_drops_what_is_no_longer_planned(shop):
    replenishment.refresh_replenishment(CHANNEL, SETTINGS, now=NOW)
    again = replenishment.refresh_replenishment(CHANNEL, SETTINGS, now=NOW + timedelta(hours=1))
    assert stored() == EXPECTED
    assert again.removed == 0

    unmapped = replace(SETTINGS, replenishment_cycles=type(SETTINGS.replenishment_cycles)())
    dropped = replenishment.refresh_replenishment(CHANNEL, unmapped, now=NOW + timedelta(hours=2))

    assert dropped.removed == 2  # product 103 had only the configured cycle
    assert set(stored()) == set(EXPECTED) - {
        ("customer:5", "103"),
        ("email:guest@example.com", "103"),
    }


def due_keys(start, end, availability=EVERYTHING):
    return [
        (message.customer_key, message.data["product_id"], message.due_at)
        for message in replenishment.due_replenishments(CHANNEL, start, end, availability)
    ]


def test_who_is_due_in_a_window_earliest_first(shop):
    replenishment.refresh_replenishment(CHANNEL, SETTINGS, now=NOW)

    assert due_keys(day(100), day(110)) == [
        ("customer:1", "101", day(102)),
        ("customer:3", "102", day(102)),
        ("customer:4", "102", day(107)),
    ]
    assert due_keys(day(102), day(106)) == []  # the start is not part of the window


def test_a_due_message_carries_the_anchor_and_the_product(shop):
    replenishment.refresh_replenishment(CHANNEL, SETTINGS, now=NOW)

    [message] = replenishment.due_replenishments(CHANNEL, day(106), day(108), EVERYTHING)

    assert message.flow == "replenishment"
    # The engine's Subject.customer_product(4, "102"), one cycle per anchor day.
    assert (message.subject_kind, message.subject_key) == (
        "customer_product",
        "customer:4:product:102",
    )
    assert message.cycle == 20260411
    assert (message.customer_id, message.email) == (4, "c4@example.com")
    assert message.anchor_at == day(100)
    assert message.data["product_id"] == "102"
    assert message.data["interval_source"] == "product"


def test_a_product_no_longer_sold_is_not_reminded(shop):
    replenishment.refresh_replenishment(CHANNEL, SETTINGS, now=NOW)

    assert [key[:2] for key in due_keys(day(100), day(110), ListedProducts({"102"}))] == [
        ("customer:3", "102"),
        ("customer:4", "102"),
    ]
    assert not replenishment.replenishment_still_due(
        CHANNEL, "customer:1", "101", day(60), ListedProducts({"102"}), now=day(102)
    )


def test_reordering_the_product_stops_the_reminder_before_the_next_refresh(shop):
    replenishment.refresh_replenishment(CHANNEL, SETTINGS, now=NOW)
    record(o(3, 101, "102"), o(4, 101, "104"))  # 4 bought something else

    assert [key[:2] for key in due_keys(day(100), day(110))] == [
        ("customer:1", "101"),
        ("customer:4", "102"),
    ]
    assert not replenishment.replenishment_still_due(
        CHANNEL, "customer:3", "102", day(80), EVERYTHING
    )
    assert replenishment.replenishment_still_due(CHANNEL, "customer:4", "102", day(100), EVERYTHING)


def test_a_cancelled_anchor_order_stops_the_reminder(shop):
    replenishment.refresh_replenishment(CHANNEL, SETTINGS, now=NOW)
    anchor = ReplenishmentDue.objects.get(customer_key="customer:4").last_order_id
    from saleor_retention_plugin.models import PurchasedOrder

    PurchasedOrder.objects.filter(order_id=anchor).update(counts=False)

    assert not replenishment.replenishment_still_due(
        CHANNEL, "customer:4", "102", day(100), EVERYTHING
    )


def test_a_merged_guest_is_reminded_as_the_customer(shop):
    replenishment.refresh_replenishment(CHANNEL, SETTINGS, now=NOW)
    merge_guest_purchases(10, "guest@example.com")

    # Until the next refresh the guest's row no longer owns its anchor order.
    assert due_keys(day(200), day(203)) == []
    replenishment.refresh_replenishment(CHANNEL, SETTINGS, now=NOW + timedelta(hours=1))

    assert due_keys(day(200), day(203)) == [("customer:10", "103", day(202))]


def test_an_anonymised_customer_is_never_reminded(shop):
    replenishment.refresh_replenishment(CHANNEL, SETTINGS, now=NOW)
    anonymise_purchases(3, "c3@example.com")

    assert ("customer:3", "102") not in [key[:2] for key in due_keys(day(100), day(110))]
    replenishment.refresh_replenishment(CHANNEL, SETTINGS, now=NOW + timedelta(hours=1))
    assert not ReplenishmentDue.objects.filter(customer_key__startswith="anonymised:").exists()


def test_the_default_availability_is_what_the_shop_sold_recently(shop):
    sold = RecentlySold(days=60).sold(CHANNEL, {"101", "102", "103", "104"}, day(200))

    assert sold == {"103", "104"}


def test_the_set_based_refresh_matches_the_pure_rules_on_a_random_shop():
    rng = random.Random(7)
    orders = []
    # 501-503 are common (medians known); 504 (category 399) is bought twice by customer 1
    # only (an own interval alone), 505 (category 301) once (the configured cycle).
    for customer in range(1, 41):
        moment = rng.uniform(0, 30)
        for _ in range(rng.randint(1, 6)):
            products = rng.sample(["501", "502", "503"], rng.randint(1, 2))
            lines = [
                line(p, rng.randint(1, 3), category="301" if p == "503" else "399")
                for p in products
            ]
            orders.append(order(customer, moment, *lines))
            moment += rng.choice([0.2, 3, 7.5, 14, 30, 45])
    only_one = line("504", category="399")
    orders += [order(1, 1, only_one), order(1, 9, replace(only_one, line_id="l-504"))]
    orders.append(order(2, 50, line("505", category="301")))
    record(*orders)
    settings = replace(SETTINGS, replenishment_lead_days=5)

    replenishment.refresh_replenishment(CHANNEL, settings, now=day(400), set_based=True)
    rows = {
        (row.customer_key, row.product_id): row
        for row in ReplenishmentDue.objects.filter(channel_slug=CHANNEL)
    }
    reference = replenishment.plans_in_python(CHANNEL, settings, day(400))

    assert set(rows) == set(reference)
    assert len(rows) > 40
    assert {plan.interval.source.value for _, plan, _ in reference.values()} == {
        "own",
        "shrunk",
        "product",
        "configured",
    }
    for key, (last, plan, purchases) in reference.items():
        row = rows[key]
        assert row.interval_source == plan.interval.source.value, key
        assert row.interval_days == pytest.approx(plan.interval.days), key
        assert abs((row.due_at - plan.due_at).total_seconds()) < 1, key
        assert abs((row.run_out_at - plan.run_out_at).total_seconds()) < 1, key
        assert (row.purchases, row.last_quantity) == (purchases, last["quantity"]), key


def test_the_send_time_check_agrees_with_the_due_selection_in_one_statement(shop):
    replenishment.refresh_replenishment(CHANNEL, SETTINGS, now=NOW)
    from saleor_retention_plugin.models import PurchasedOrder

    # Between refreshes: a reorder, a cancelled anchor, another product bought.
    record(o(3, 101, "102"), o(1, 101, "104"))
    anchor = ReplenishmentDue.objects.get(customer_key="customer:4").last_order_id
    PurchasedOrder.objects.filter(order_id=anchor).update(counts=False)
    rows = list(ReplenishmentDue.objects.filter(channel_slug=CHANNEL))
    standing = set(
        replenishment.still_standing(
            ReplenishmentDue.objects.filter(channel_slug=CHANNEL)
        ).values_list("customer_key", "product_id")
    )

    answers = {}
    for row in rows:
        with CaptureQueriesContext(connection) as queries:
            answers[(row.customer_key, row.product_id)] = replenishment.replenishment_still_due(
                CHANNEL, row.customer_key, row.product_id, row.last_purchased_at, EVERYTHING
            )
        assert len(queries) == 1  # the fake catalogue asks the database nothing
    moved = replenishment.replenishment_still_due(CHANNEL, "customer:1", "101", day(59), EVERYTHING)

    assert {key for key, due in answers.items() if due} == standing
    assert ("customer:3", "102") not in standing
    assert ("customer:4", "102") not in standing
    assert ("customer:1", "101") in standing
    assert not moved  # another anchor than the kept row's
