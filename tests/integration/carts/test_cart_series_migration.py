"""Migration 0019: a cart's series moves from ``TrackedCart`` onto its ``FlowEnrolment``.

Every in-flight series keeps its next step, next check, holdout, failures, window and stop
reason on the cart's enrolment, cart messages point at that enrolment, and going back puts
everything on the carts again.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ..migration_steps import APP, migrate, migrated_to

BEFORE = [(APP, "0018_purchase_summaries")]
AFTER = [(APP, "0019_cart_series_on_enrolments")]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def before(transactional_db):
    with migrated_to(BEFORE) as apps:
        yield apps


CART_FIELDS = (
    "state", "stop_reason", "is_holdout", "next_step", "next_check_at", "abandoned_at",
    "holdout_window_starts_at", "series_stopped_at", "sweep_failures", "customer_id",
)  # fmt: skip


def cart(apps, customer_id, **progress):
    return apps.get_model(APP, "TrackedCart").objects.create(
        checkout_token=uuid.uuid4(),
        channel_slug="default",
        customer_id=customer_id,
        email=f"c{customer_id}@example.com",
        language_code="zh-hans",
        last_activity_at=T0,
        **progress,
    )


def test_in_flight_series_move_onto_enrolments_and_back(before):
    apps = before
    # Reminded once, step 2 due tomorrow, one failed sweep behind it.
    running = cart(
        apps, 1, next_step=2, next_check_at=T0 + 24 * HOUR, abandoned_at=T0 + HOUR,
        sweep_failures=1,
    )  # fmt: skip
    # A holdout cart stopped by another order after its window opened.
    held = cart(
        apps, 2, is_holdout=True, abandoned_at=T0 + HOUR, holdout_window_starts_at=T0 + 2 * HOUR,
        state="closed", stop_reason="customer_ordered", series_stopped_at=T0 + 5 * HOUR,
    )  # fmt: skip
    # Converted and credited (0017 wrote its enrolment and conversion).
    converted = cart(
        apps, 3, next_step=2, abandoned_at=T0 + HOUR, state="converted",
        stop_reason="cart_ordered", series_stopped_at=T0 + 30 * HOUR,
    )  # fmt: skip
    forgotten = cart(
        apps, None, state="closed", stop_reason="customer_deleted",
        series_stopped_at=T0 + 3 * HOUR,
    )  # fmt: skip
    untouched = cart(apps, 5)  # tracked, never armed (no check)
    messages = apps.get_model(APP, "FlowMessage").objects
    for subject, step, state in ((running, 1, "sent"), (running, 2, "scheduled")):
        messages.create(
            flow="cart", subject_key=str(subject.checkout_token), step=step, cart=subject,
            channel_slug="default", state=state, idempotency_key=f"k-{step}",
            sent_at=T0 + 2 * HOUR if state == "sent" else None,
            next_attempt_at=T0 + 24 * HOUR if state == "scheduled" else None,
        )  # fmt: skip
    sent_to_converted = messages.create(
        flow="cart", subject_key=str(converted.checkout_token), step=1, cart=converted,
        channel_slug="default", state="sent", sent_at=T0 + 2 * HOUR, idempotency_key="k-c1",
    )  # fmt: skip
    old_enrolment = apps.get_model(APP, "FlowEnrolment").objects.create(
        flow="cart", channel_slug="default", subject_kind="cart",
        subject_key=f"cart:{converted.checkout_token}", customer_id=3, anchor_at=T0 + HOUR,
        state="stopped", next_step=2, window_opens_at=T0 + 2 * HOUR,
        stop_reason="cart_ordered", stopped_at=T0 + 30 * HOUR,
    )  # fmt: skip
    apps.get_model(APP, "FlowConversion").objects.create(
        enrolment=old_enrolment, flow="cart", channel_slug="default", order_id="o-3",
        revenue=Decimal("158.400"), currency="CNY", step=1, is_holdout=False, via="subject",
        converted_at=T0 + 30 * HOUR,
    )  # fmt: skip
    carts_before = {
        row["checkout_token"]: row
        for row in apps.get_model(APP, "TrackedCart").objects.values("checkout_token", *CART_FIELDS)
    }

    after = migrate(AFTER)

    enrolments = {
        row["cart__checkout_token"]: row
        for row in after.get_model(APP, "FlowEnrolment").objects.filter(flow="cart").values(
            "cart__checkout_token", "subject_key", "subject_kind", "state", "stop_reason",
            "stopped_at", "next_step", "next_check_at", "is_holdout", "window_opens_at",
            "failures", "data", "anchor_at", "customer_id", "email", "language_code",
        )
    }  # fmt: skip
    assert len(enrolments) == 5
    assert enrolments[running.checkout_token] == {
        "cart__checkout_token": running.checkout_token,
        "subject_key": f"cart:{running.checkout_token}", "subject_kind": "cart",
        "state": "active", "stop_reason": "", "stopped_at": None, "next_step": 2,
        "next_check_at": T0 + 24 * HOUR, "is_holdout": False, "window_opens_at": None,
        "failures": 1, "data": {"abandoned_at": (T0 + HOUR).isoformat()}, "anchor_at": T0,
        "customer_id": 1, "email": "c1@example.com", "language_code": "zh-hans",
    }  # fmt: skip
    held_series = enrolments[held.checkout_token]
    assert (held_series["state"], held_series["stop_reason"], held_series["stopped_at"]) == (
        "stopped",
        "customer_ordered",
        T0 + 5 * HOUR,
    )
    assert (held_series["is_holdout"], held_series["window_opens_at"]) == (True, T0 + 2 * HOUR)
    assert enrolments[forgotten.checkout_token]["stop_reason"] == "customer_deleted"
    assert (enrolments[untouched.checkout_token]["state"], enrolments[untouched.checkout_token][
        "next_check_at"]) == ("active", None)  # fmt: skip
    # The converted cart's enrolment is the one 0017 wrote: its conversion still hangs on it.
    conversion = after.get_model(APP, "FlowConversion").objects.get()
    assert conversion.enrolment.cart.checkout_token == converted.checkout_token
    assert conversion.enrolment.window_opens_at == T0 + 2 * HOUR
    states = dict(
        after.get_model(APP, "TrackedCart").objects.values_list("checkout_token", "state")
    )
    assert states == {
        running.checkout_token: "open", held.checkout_token: "open",
        converted.checkout_token: "converted", forgotten.checkout_token: "forgotten",
        untouched.checkout_token: "open",
    }  # fmt: skip
    pointed = {
        (row[0], row[1])
        for row in after.get_model(APP, "FlowMessage").objects.values_list(
            "enrolment__cart__checkout_token", "step"
        )
    }
    assert pointed == {(running.checkout_token, 1), (running.checkout_token, 2),
                       (converted.checkout_token, 1)}  # fmt: skip

    back = migrate(BEFORE)

    carts_after = {
        row["checkout_token"]: row
        for row in back.get_model(APP, "TrackedCart").objects.values("checkout_token", *CART_FIELDS)
    }
    assert carts_after == carts_before
    restored = back.get_model(APP, "FlowMessage").objects
    assert set(restored.values_list("cart__checkout_token", "step", "enrolment")) == {
        (running.checkout_token, 1, None), (running.checkout_token, 2, None),
        (converted.checkout_token, 1, None),
    }  # fmt: skip
    assert restored.get(pk=sent_to_converted.pk).state == "sent"
    # Only the enrolment 0017 had (it holds the conversion) is left.
    assert list(
        back.get_model(APP, "FlowEnrolment")
        .objects.filter(flow="cart")
        .values_list("subject_key", "state")
    ) == [(f"cart:{converted.checkout_token}", "stopped")]
