"""The report's per-flow experiment: every flow with enrolments against its holdout.

Enrolments, messages and conversions come from the real engine (order intake, sweep,
outbox, attribution); the counts are checked against the customers picked by hand.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from saleor_retention_plugin.domain import experiments
from saleor_retention_plugin.domain.holdout import is_in_holdout
from saleor_retention_plugin.models import FlowConversion, FlowMessage
from saleor_retention_plugin.selectors.flow_uplift import flow_uplifts
from saleor_retention_plugin.services import carts

from .cart_shop import CHANNEL, T0, configure, order, put_cart, shop_settings, sweep, tea_line
from .test_lifecycle_flows import first_order

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def held(customer_id: int) -> bool:
    return is_in_holdout(f"customer:{customer_id}:1", salt=f"welcome-holdout:{CHANNEL}", percent=50)


def entries(now):
    return {entry["flow"]: entry for entry in flow_uplifts(CHANNEL, now=now)}


def welcome_with_reorders(customers, reorder):
    """First orders at T0, the welcome sweep, then second orders a day later from ``reorder``."""
    configure(welcome_enabled="true", welcome_delay_hours="2", holdout_percent="50")
    for customer_id in customers:
        first_order(customer_id, email=f"c{customer_id}@example.com")
    sweep(T0 + 2 * HOUR)
    for customer_id in reorder:
        first_order(customer_id, email=f"c{customer_id}@example.com", at=T0 + DAY)


def test_each_group_counts_its_enrolments_and_the_ones_the_order_intake_attributed():
    customers = range(1, 21)
    messaged = [c for c in customers if not held(c)]
    holdout = [c for c in customers if held(c)]
    assert (len(messaged), len(holdout)) == (11, 9)  # the draw is fixed: a real split
    welcome_with_reorders(customers, [*messaged[:3], holdout[0]])

    welcome = entries(T0 + 2 * DAY)["welcome"]
    uplift = welcome["uplift"]

    assert (uplift.treated, uplift.treated_converted) == (len(messaged), 3)
    assert (uplift.control, uplift.control_converted) == (len(holdout), 1)
    assert uplift == experiments.uplift(
        len(messaged), 3, len(holdout), 1, wording=experiments.ENROLMENTS
    )
    assert uplift.too_small
    assert uplift.verdict.startswith("Too few enrolments to tell yet")
    assert welcome["revenue"] == {"messaged": {"CNY": "360.000"}, "holdout": {"CNY": "120.000"}}
    assert FlowConversion.objects.filter(flow="welcome").count() == 4


def test_nothing_counts_before_its_window_opened():
    customers = range(1, 21)
    welcome_with_reorders(customers, [])
    # An hour after the first orders no welcome was due, for either group: no comparison,
    # though the enrolments are there.
    early = entries(T0 + HOUR)["welcome"]
    assert (early["enrolled"], early["sent"]) == (20, 0)
    assert early["uplift"].treated + early["uplift"].control == 0
    later = entries(T0 + 2 * DAY)["welcome"]
    assert later["uplift"].treated + later["uplift"].control == 20
    assert later["uplift"].treated_converted == later["uplift"].control_converted == 0
    assert (later["enrolled"], later["held_out"]) == (20, 9)
    assert later["sent"] == FlowMessage.objects.filter(flow="welcome", state="sent").count() == 11


def test_the_cart_series_is_reported_from_its_carts_and_conversions(track):
    token = track()
    put_cart(token, tea_line())
    sweep(T0 + HOUR)
    sweep(T0 + 2 * HOUR)  # first reminder
    assert carts.record_order(order(token, at=T0 + 30 * HOUR), shop_settings()) is not None

    cart = entries(T0 + 2 * DAY)["cart"]

    assert (cart["uplift"].treated, cart["uplift"].treated_converted) == (1, 1)
    assert cart["uplift"].control == 0
    assert cart["uplift"].verdict == "No comparison yet: one of the groups is empty."
    assert cart["revenue"]["messaged"] == {"CNY": "176.000"}


def test_the_text_report_has_a_row_and_a_verdict_per_flow(track):
    customers = range(1, 21)
    welcome_with_reorders(customers, [c for c in customers if not held(c)][:2])
    out = StringIO()
    call_command(
        "retention_report", "--channel", CHANNEL, "--start", "2026-01-01", "--end", "2027-01-01",
        "--no-prediction", stdout=out,
    )  # fmt: skip
    text = out.getvalue()

    assert "Flows against their holdout" in text
    assert "welcome: relative uplift" in text
    assert "Too few enrolments to tell yet" in text
