"""Order snapshots travel to Celery as JSON; emails are keyed in one normal form."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saleor_retention_plugin.domain.customers import normalise_email
from saleor_retention_plugin.domain.orders import OrderLineSnapshot, OrderSnapshot

amounts = st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False, allow_infinity=False)

snapshots = st.builds(
    OrderSnapshot,
    order_id=st.uuids().map(str),
    number=st.integers(1, 10**9).map(str),
    channel_slug=st.from_regex(r"[a-z0-9-]{1,30}", fullmatch=True),
    channel_currency=st.sampled_from(["USD", "CNY", "EUR"]),
    currency=st.sampled_from(["USD", "CNY", "EUR"]),
    customer_id=st.none() | st.integers(1, 2**62),
    email=st.none() | st.emails(),
    status=st.sampled_from(["unconfirmed", "unfulfilled", "fulfilled", "canceled", "returned"]),
    is_fully_paid=st.booleans(),
    points_base_amount=amounts,
    total_amount=amounts,
    refunded_amount=amounts,
    created_at=st.datetimes(timezones=st.sampled_from([UTC])),
    refunded_goods_amount=amounts,
    refunded_shipping_amount=amounts,
    gift_card_paid_amount=amounts,
    lines=st.lists(
        st.builds(
            OrderLineSnapshot,
            line_id=st.uuids().map(str),
            variant_id=st.none() | st.text(min_size=1, max_size=20),
            product_id=st.none() | st.text(min_size=1, max_size=20),
            product_type_id=st.none() | st.text(min_size=1, max_size=20),
            category_id=st.none() | st.text(min_size=1, max_size=20),
            sku=st.none() | st.text(min_size=1, max_size=20),
            quantity=st.integers(1, 1000),
            unit_price_net=amounts,
            is_gift_card=st.booleans(),
        ),
        max_size=3,
    ).map(tuple),
    checkout_token=st.none() | st.uuids().map(str),
    voucher_code=st.none() | st.text(min_size=1, max_size=20),
    has_discount=st.booleans(),
)


@given(snapshots)
def test_order_snapshot_survives_a_json_round_trip(order):
    payload = json.loads(json.dumps(order.to_json()))

    assert OrderSnapshot.from_json(payload) == order


def test_order_snapshot_from_minimal_json_fills_the_optional_fields():
    order = OrderSnapshot.from_json(
        {
            "order_id": "abc",
            "channel_slug": "default-channel",
            "channel_currency": "USD",
            "currency": "USD",
            "email": "",
            "status": "unfulfilled",
            "is_fully_paid": True,
            "points_base_amount": "10.50",
            "total_amount": 12,
            "created_at": "2026-03-01T12:00:00+00:00",
        }
    )

    assert order.customer_id is None
    assert order.email is None
    assert order.number == ""
    assert order.refunded_amount == Decimal(0)
    assert order.total_amount == Decimal(12)
    assert order.created_at == datetime(2026, 3, 1, 12, tzinfo=UTC)
    # Fields added for the order intake and the purchase history: JSON from before them
    # (queued tasks, stored payloads) still parses.
    assert (order.lines, order.voucher_code, order.has_discount) == ((), None, False)
    assert order.refunded_goods_amount == order.refunded_shipping_amount == Decimal(0)


@pytest.mark.parametrize(
    ("email", "normal"),
    [
        ("ann@example.com", "ann@example.com"),
        ("  Ann@Example.COM ", "ann@example.com"),
        ("ANN@EXAMPLE.COM", "ann@example.com"),
        (None, None),
        ("", None),
        ("   ", None),
        ("not-an-email", None),
    ],
)
def test_normalise_email(email, normal):
    assert normalise_email(email) == normal


@given(st.emails())
def test_normalising_twice_changes_nothing(email):
    once = normalise_email(email)

    assert once is not None
    assert normalise_email(once) == once
    assert normalise_email(email.upper()) == once
