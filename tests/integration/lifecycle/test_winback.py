"""Win-back: hand-computed dormancy, the escalating steps due in a window, and what stops them.

The shop (days after 1 January 2026, noon UTC), factor 2, default 90 days, steps 0, 14, 30
days after dormancy with 10%, 15%, 20%:

| customer | orders (day) | usual interval | dormant | steps due | segment |
|---|---|---|---|---|---|
| 1 | 0, 20, 50, 80 | median of 20, 30, 30 = 30 | 80 + 60 = 140 | 140, 154, 170 | high value |
| 2 | 100 | none | 100 + 90 = 190 | 190, 204, 220 | price-sensitive |
| 3 | 0, 2 | 2 | 2 + max(4, 14) = 16 | 16, 30, 46 | |
| 4 | 0, 0.5 | none (same-day gap) | 0.5 + 90 = 90.5 | 90.5, 104.5, 120.5 | |

Customer 5 is anonymised and never appears.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.models import CustomerSegment, WinbackDue
from saleor_retention_plugin.services import winback
from saleor_retention_plugin.services.purchase_history import anonymise_purchases

from .factories import CHANNEL, day, line, order, record

pytestmark = pytest.mark.django_db

SETTINGS = ChannelSettings.from_configuration({}).winback
NOW = day(300)


def segment(customer: int, *, high_value=False, driven=False) -> CustomerSegment:
    return CustomerSegment.objects.create(
        channel_slug=CHANNEL,
        customer_key=f"customer:{customer}",
        segment="dormant",
        cycle_days=30,
        orders=1,
        revenue=Decimal(10),
        currency="USD",
        first_order_on=date(2026, 1, 1),
        last_order_on=date(2026, 1, 1),
        recency_score=1,
        frequency_score=1,
        monetary_score=1,
        discount_share=Decimal(1 if driven else 0),
        discount_driven=driven,
        high_value=high_value,
        as_of=date(2026, 6, 30),
        computed_at=day(299),
    )


@pytest.fixture
def shop():
    record(
        *(order(1, at, line("101")) for at in (0, 20, 50, 80)),
        order(2, 100, line("101")),
        order(3, 0, line("101")), order(3, 2, line("101")),
        order(4, 0, line("101")), order(4, 0.5, line("101")),
        order(5, 0, line("101")), order(5, 30, line("101")),
    )  # fmt: skip
    anonymise_purchases(5, "c5@example.com")
    segment(1, high_value=True)
    segment(2, driven=True)


EXPECTED = {
    "customer:1": (30.0, day(140), True, False),
    "customer:2": (None, day(190), False, True),
    "customer:3": (2.0, day(16), False, False),
    "customer:4": (None, day(90.5), False, False),
}


@pytest.mark.parametrize("set_based", [True, False], ids=["sql", "pure-rules"])
def test_the_refresh_keeps_the_hand_computed_dormancy(shop, set_based):
    result = winback.refresh_winback(CHANNEL, SETTINGS, now=NOW, set_based=set_based)

    rows = {
        row.customer_key: (
            None if row.usual_interval_days is None else round(row.usual_interval_days, 6),
            row.dormant_at,
            row.high_value,
            row.price_sensitive,
        )
        for row in WinbackDue.objects.filter(channel_slug=CHANNEL)
    }
    assert rows == EXPECTED
    assert result.planned == 4


def steps(start, end):
    return [
        (m.customer_key, m.step, m.due_at, m.data["incentive"], m.data["discount"])
        for m in winback.due_winback_steps(CHANNEL, SETTINGS, start, end)
    ]


def test_the_steps_due_in_a_window_with_perks_for_high_value_and_discounts_otherwise(shop):
    winback.refresh_winback(CHANNEL, SETTINGS, now=NOW)

    assert steps(day(150), day(200)) == [
        ("customer:1", 2, day(154), "perk", ""),
        ("customer:1", 3, day(170), "perk", ""),
        ("customer:2", 1, day(190), "discount", "10%"),
    ]
    assert steps(day(0), day(50)) == [
        ("customer:3", 1, day(16), "discount", "10%"),
        ("customer:3", 2, day(30), "discount", "15%"),
        ("customer:3", 3, day(46), "discount", "20%"),
    ]


def test_the_perk_message_carries_the_merchants_text(shop):
    winback.refresh_winback(CHANNEL, SETTINGS, now=NOW)

    [message] = winback.due_winback_steps(CHANNEL, SETTINGS, day(139), day(141))

    assert message.flow == "winback"
    assert (message.subject_kind, message.subject_key) == ("customer", "customer:1")
    assert message.cycle == 20260322  # the last order's day: a new order, a new series
    assert message.data["high_value"] is True
    assert message.anchor_at == day(80)
    assert message.data["perk"] == "Early access to our next collection"
    assert message.data["steps"] == 3


def test_the_incentive_follows_the_segments_refreshed_after_the_win_back_refresh(shop):
    winback.refresh_winback(CHANNEL, SETTINGS, now=NOW)
    CustomerSegment.objects.filter(customer_key="customer:1").update(
        high_value=False, discount_driven=True
    )
    segment(3, high_value=True)

    assert steps(day(139), day(141)) == [("customer:1", 1, day(140), "discount", "10%")]
    assert steps(day(15), day(17)) == [("customer:3", 1, day(16), "perk", "")]


def test_an_order_stops_the_series_before_the_next_refresh(shop):
    winback.refresh_winback(CHANNEL, SETTINGS, now=NOW)
    record(order(2, 195, line("999")))

    assert steps(day(150), day(230)) == [
        ("customer:1", 2, day(154), "perk", ""),
        ("customer:1", 3, day(170), "perk", ""),
    ]
    assert not winback.winback_still_due(CHANNEL, "customer:2", day(100))
    assert winback.winback_still_due(CHANNEL, "customer:1", day(80))

    winback.refresh_winback(CHANNEL, SETTINGS, now=NOW + timedelta(hours=1))
    assert WinbackDue.objects.get(customer_key="customer:2").dormant_at == day(
        195 + 2 * 95
    )  # one gap of 95 days now


def test_an_anonymised_customer_drops_out_at_once(shop):
    winback.refresh_winback(CHANNEL, SETTINGS, now=NOW)
    anonymise_purchases(1, "c1@example.com")

    assert [key for key, *_ in steps(day(150), day(200))] == ["customer:2"]
    assert not winback.winback_still_due(CHANNEL, "customer:1", day(80))


def test_the_set_based_refresh_matches_the_pure_rules_on_a_random_shop():
    rng = random.Random(11)
    orders = []
    for customer in range(1, 61):
        moment = rng.uniform(0, 60)
        for _ in range(rng.randint(1, 5)):
            orders.append(order(customer, moment, line("101")))
            moment += rng.choice([0.3, 5, 12.5, 30, 70])
    record(*orders)
    for customer in range(1, 61, 7):
        segment(customer, high_value=customer % 2 == 0, driven=customer % 3 == 0)
    settings = ChannelSettings.from_configuration(
        {"winback_dormancy_factor": "2.5", "winback_default_days": "60"}
    ).winback

    winback.refresh_winback(CHANNEL, settings, now=NOW, set_based=True)
    rows = {row.customer_key: row for row in WinbackDue.objects.filter(channel_slug=CHANNEL)}
    reference = winback.plans_in_python(CHANNEL, settings.policy, NOW)

    assert set(rows) == set(reference)
    assert len(rows) == 60
    for key, plan in reference.items():
        row = rows[key]
        assert row.last_order_id == plan["last_order_id"], key
        if plan["usual_interval_days"] is None:
            assert row.usual_interval_days is None, key
        else:
            assert row.usual_interval_days == pytest.approx(plan["usual_interval_days"]), key
        assert abs((row.dormant_at - plan["dormant_at"]).total_seconds()) < 1, key
        assert (row.high_value, row.price_sensitive) == (
            plan["high_value"],
            plan["price_sensitive"],
        ), key


def test_the_steps_due_in_a_window_are_read_in_one_query_whatever_the_steps(
    shop, django_assert_num_queries
):
    winback.refresh_winback(CHANNEL, SETTINGS, now=NOW)

    with django_assert_num_queries(1):
        due = steps(day(0), day(200))

    # A customer whose several steps fall in the window gets each, by due date.
    assert [(key, step, at.date()) for key, step, at, *_ in due] == [
        ("customer:3", 1, day(16).date()),
        ("customer:3", 2, day(30).date()),
        ("customer:3", 3, day(46).date()),
        ("customer:4", 1, day(91).date()),
        ("customer:4", 2, day(105).date()),
        ("customer:4", 3, day(121).date()),
        ("customer:1", 1, day(140).date()),
        ("customer:1", 2, day(154).date()),
        ("customer:1", 3, day(170).date()),
        ("customer:2", 1, day(190).date()),
    ]
