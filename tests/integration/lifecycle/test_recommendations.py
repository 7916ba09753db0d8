"""Co-purchase pairs from hand-countable baskets, and what a customer is recommended.

Baskets in the last year (product letters; days after 1 January 2026, now is day 200):

| order | products | customer |
|---|---|---|
| 1, 2 | A B | 1, 2 |
| 3 | A B C | 3 |
| 4 | A C | 51 (day 10) |
| 5 | B | 51 (day 150) |
| 6 | D A | 50 (day 1) |

A is in 5 of 6 baskets, B in 4, C in 2, D in 1. With a minimum support of 2 the pairs are
A-B (3 orders) and A-C (2), both ways: confidence A->B 3/5, B->A 3/4, A->C 2/5, C->A 2/2;
lift A->B (3/5) / (4/6) = 0.9, A->C (2/5) / (2/6) = 1.2. A cancelled order and orders older
than a year (C D, many times) count for nothing.
"""

from __future__ import annotations

import random
from collections import Counter
from itertools import permutations

import pytest

from saleor_retention_plugin.models import CoPurchasePair
from saleor_retention_plugin.services.recommendations import (
    recommend_for,
    refresh_co_purchases,
)

from .factories import CHANNEL, ListedProducts, day, line, order, record

pytestmark = pytest.mark.django_db

NOW = day(200)
ALL = ListedProducts("ABCD")


def basket(customer, at, *products, **changes):
    return order(customer, at, *(line(product) for product in products), **changes)


@pytest.fixture
def shop():
    record(
        basket(1, 100, "A", "B"),
        basket(2, 100, "A", "B"),
        basket(3, 100, "A", "B", "C"),
        basket(51, 10, "A", "C"),
        basket(51, 150, "B"),
        basket(50, 1, "D", "A"),
        basket(4, 100, "C", "D", status="canceled"),
        *(basket(5, -200 - n, "C", "D") for n in range(5)),
    )
    refresh_co_purchases(CHANNEL, min_support=2, now=NOW)


def test_pairs_hold_support_confidence_and_lift(shop):
    pairs = {
        (p.product_a, p.product_b): (p.support, round(p.confidence, 6), round(p.lift, 6))
        for p in CoPurchasePair.objects.filter(channel_slug=CHANNEL)
    }

    assert pairs == {
        ("A", "B"): (3, 0.6, 0.9),
        ("B", "A"): (3, 0.75, 0.9),
        ("A", "C"): (2, 0.4, 1.2),
        ("C", "A"): (2, 1.0, 1.2),
    }


def test_refreshing_replaces_the_pairs(shop):
    refresh = refresh_co_purchases(CHANNEL, min_support=3, now=NOW)

    assert refresh.pairs == 2
    assert set(CoPurchasePair.objects.values_list("product_a", "product_b")) == {
        ("A", "B"),
        ("B", "A"),
    }


def test_a_bad_minimum_support_changes_nothing(shop):
    with pytest.raises(ValueError, match="at least 1"):
        refresh_co_purchases(CHANNEL, min_support=0, now=NOW)

    assert CoPurchasePair.objects.count() == 4


def products(recommendations):
    return [r.product_id for r in recommendations]


def test_customers_are_recommended_what_others_bought_with_their_products(shop):
    got = recommend_for(CHANNEL, "customer:50", availability=ALL, now=NOW)

    assert products(got) == ["B", "C"]
    assert got[0].score == pytest.approx(0.6)
    assert [r.support for r in got] == [3, 2]
    assert products(recommend_for(CHANNEL, "customer:50", limit=1, availability=ALL, now=NOW)) == [
        "B"
    ]


def test_what_the_customer_bought_recently_is_not_recommended(shop):
    # 51 bought B 50 days ago (left out) and A 190 days ago (may come back).
    got = recommend_for(CHANNEL, "customer:51", exclude_days=90, availability=ALL, now=NOW)

    assert products(got) == ["A", "C"]
    assert got[0].score == pytest.approx(0.75 + 1.0)


def test_a_product_no_longer_sold_is_not_recommended(shop):
    got = recommend_for(CHANNEL, "customer:50", availability=ListedProducts("ACD"), now=NOW)

    assert products(got) == ["C"]


def test_recommendations_for_a_given_product(shop):
    got = recommend_for(CHANNEL, None, seed_products={"C"}, availability=ALL, now=NOW)

    assert products(got) == ["A"]
    assert recommend_for(CHANNEL, "customer:999", availability=ALL, now=NOW) == []


def test_the_set_based_pairs_match_a_count_in_python():
    rng = random.Random(5)
    baskets = []
    for number in range(300):
        products = rng.sample("ABCDEFGH", rng.randint(1, 4))
        baskets.append(products)
        record(basket(number % 40 + 1, rng.uniform(-30, 190), *products))
    refresh_co_purchases(CHANNEL, min_support=4, now=NOW)

    holding = Counter(product for products in baskets for product in products)
    together = Counter((a, b) for products in baskets for a, b in permutations(products, 2))
    expected = {
        (a, b): (n, n / holding[a], (n / holding[a]) / (holding[b] / len(baskets)))
        for (a, b), n in together.items()
        if n >= 4
    }
    stored = {
        (p.product_a, p.product_b): (p.support, p.confidence, p.lift)
        for p in CoPurchasePair.objects.filter(channel_slug=CHANNEL)
    }
    assert set(stored) == set(expected)
    for pair, (support, confidence, lift) in expected.items():
        assert stored[pair][0] == support
        assert stored[pair][1] == pytest.approx(confidence)
        assert stored[pair][2] == pytest.approx(lift)
