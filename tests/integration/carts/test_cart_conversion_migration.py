"""Migration 0020: cart recoveries move onto the engine's conversion table.

Every ``CartRecovery`` becomes a ``FlowConversion`` of the cart's enrolment with the same
figures, and going back restores them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ..migration_steps import APP, migrate, migrated_to

BEFORE = [(APP, "0016_campaigns")]
AFTER = [(APP, "0017_cart_conversions")]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def before(transactional_db):
    with migrated_to(BEFORE) as apps:
        yield apps


def cart(apps, *, holdout: bool, customer_id: int, stop_reason: str):
    return apps.get_model(APP, "TrackedCart").objects.create(
        checkout_token=uuid.uuid4(),
        channel_slug="default",
        customer_id=customer_id,
        email=f"c{customer_id}@example.com",
        last_activity_at=T0,
        abandoned_at=T0 + timedelta(hours=1),
        is_holdout=holdout,
        holdout_window_starts_at=T0 + timedelta(hours=2) if holdout else None,
        state="converted" if stop_reason == "ordered" else "closed",
        stop_reason=stop_reason,
        series_stopped_at=T0 + timedelta(hours=30),
        next_step=3,
    )


def test_recoveries_become_cart_conversions_with_the_same_figures_and_back(before):
    apps = before
    reminded = cart(apps, holdout=False, customer_id=1, stop_reason="ordered")
    held = cart(apps, holdout=True, customer_id=2, stop_reason="customer_ordered")
    apps.get_model(APP, "FlowMessage").objects.create(
        flow="cart",
        subject_key=str(reminded.checkout_token),
        step=1,
        cart=reminded,
        channel_slug="default",
        state="sent",
        sent_at=T0 + timedelta(hours=3),
        idempotency_key="k1",
    )
    recovery = apps.get_model(APP, "CartRecovery").objects
    recovery.create(
        cart=reminded, channel_slug="default", order_id="o-1", revenue=Decimal("158.400"),
        currency="CNY", recovered_by_step=1, is_holdout=False, via="checkout",
        recovered_at=T0 + timedelta(hours=30),
    )  # fmt: skip
    recovery.create(
        cart=held, channel_slug="default", order_id="o-2", revenue=Decimal("20.000"),
        currency="CNY", recovered_by_step=None, is_holdout=True, via="same_customer",
        recovered_at=T0 + timedelta(hours=31),
    )  # fmt: skip

    after = migrate(AFTER)

    rows = {
        row["order_id"]: row
        for row in after.get_model(APP, "FlowConversion").objects.values(
            "order_id", "flow", "revenue", "step", "is_holdout", "via", "converted_at",
            "enrolment__subject_key", "enrolment__subject_kind", "enrolment__state",
            "enrolment__stop_reason", "enrolment__window_opens_at", "enrolment__next_check_at",
            "enrolment__customer_id",
        )
    }  # fmt: skip
    assert rows["o-1"] == {
        "order_id": "o-1", "flow": "cart", "revenue": Decimal("158.400"), "step": 1,
        "is_holdout": False, "via": "subject", "converted_at": T0 + timedelta(hours=30),
        "enrolment__subject_key": f"cart:{reminded.checkout_token}",
        "enrolment__subject_kind": "cart", "enrolment__state": "stopped",
        "enrolment__stop_reason": "ordered",
        "enrolment__window_opens_at": T0 + timedelta(hours=3),
        "enrolment__next_check_at": None, "enrolment__customer_id": 1,
    }  # fmt: skip
    assert rows["o-2"]["via"] == "same_customer"
    assert (rows["o-2"]["step"], rows["o-2"]["is_holdout"]) == (None, True)
    assert rows["o-2"]["enrolment__window_opens_at"] == T0 + timedelta(hours=2)
    assert rows["o-2"]["enrolment__stop_reason"] == "customer_ordered"

    back = migrate(BEFORE)

    restored = set(
        back.get_model(APP, "CartRecovery").objects.values_list(
            "cart__checkout_token", "order_id", "revenue", "recovered_by_step", "is_holdout", "via"
        )
    )
    assert restored == {
        (reminded.checkout_token, "o-1", Decimal("158.400"), 1, False, "checkout"),
        (held.checkout_token, "o-2", Decimal("20.000"), None, True, "same_customer"),
    }
    assert not back.get_model(APP, "FlowEnrolment").objects.filter(flow="cart").exists()
