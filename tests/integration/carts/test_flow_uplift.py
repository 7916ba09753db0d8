"""The report's per-flow experiment: every flow with enrolments against its holdout.

Enrolments, messages and conversions come from the real engine (order intake, sweep,
outbox, attribution); the counts are checked against the customers picked by hand.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from saleor_retention_plugin.analytics_report import render_html
from saleor_retention_plugin.domain import experiments
from saleor_retention_plugin.domain.holdout import is_in_holdout, variant_of
from saleor_retention_plugin.models import FlowConversion, FlowEnrolment, FlowMessage
from saleor_retention_plugin.selectors.flow_uplift import flow_uplifts
from saleor_retention_plugin.selectors.report import build_report
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


def welcome_with_reorders(customers, reorder, **settings):
    """First orders at T0, the welcome sweep, then second orders a day later from ``reorder``."""
    configure(welcome_enabled="true", welcome_delay_hours="2", holdout_percent="50", **settings)
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


def test_campaign_variants_and_campaigns_against_their_holdout_add_up_to_the_flow():
    from .test_campaigns import (
        FIRST,
        SHANGHAI_TEN,
        campaign,
        campaigns_on,
        member,
        order_by,
    )

    campaigns_on()
    for n in range(1, 61):
        member(f"customer:{n}")
    split = campaign(
        holdout_percent=Decimal(30), coupon_discount="10%", variant_b={"coupon_discount": "20%"}
    )
    single = campaign(name="Plain", holdout_percent=Decimal(20))
    sweep(FIRST)
    sweep(SHANGHAI_TEN)
    groups: dict[tuple[int, bool, str], list[Any]] = {}
    for cycle, holdout, variant, customer_id in FlowEnrolment.objects.filter(
        flow="campaign"
    ).values_list("cycle", "is_holdout", "variant", "customer_id"):
        groups.setdefault((cycle, holdout, "" if holdout else variant), []).append(customer_id)
    a, b = groups[(split.pk, False, "a")], groups[(split.pk, False, "b")]
    held = groups[(split.pk, True, "")]
    assert min(len(a), len(b), len(held)) >= 5  # a real three-way split
    # Orders from 2 of variant a, 4 of variant b and 1 of the holdout (each 80 CNY): they
    # also convert whatever enrolment of the plain campaign the same customers have.
    buyers = [*a[:2], *b[:4], held[0]]
    for customer_id in buyers:
        order_by(customer_id, SHANGHAI_TEN + 5 * HOUR)

    entry = entries(SHANGHAI_TEN + 2 * DAY)["campaign"]
    [first, second] = entry["campaigns"]

    assert (first["campaign_id"], first["name"]) == (split.pk, "Spring arrivals")
    assert (second["campaign_id"], second["name"], second["variants"]) == (single.pk, "Plain", [])
    by_variant = {v["variant"]: v for v in first["variants"]}
    assert by_variant["a"]["uplift"] == experiments.uplift(
        len(a), 2, len(held), 1, wording=experiments.ENROLMENTS
    )
    assert by_variant["b"]["uplift"] == experiments.uplift(
        len(b), 4, len(held), 1, wording=experiments.ENROLMENTS
    )
    assert by_variant["a"]["uplift"].verdict.startswith("Too few enrolments")
    assert by_variant["a"]["revenue"] == {"CNY": "160.000"}
    assert by_variant["b"]["revenue"] == {"CNY": "320.000"}
    assert by_variant["a"]["messages_sent"] == len(a)
    assert first["uplift"] == experiments.uplift(
        len(a) + len(b), 6, len(held), 1, wording=experiments.ENROLMENTS
    )
    assert first["revenue"] == {"messaged": {"CNY": "480.000"}, "holdout": {"CNY": "80.000"}}
    # Every part adds up: variants to their campaign, campaigns to the flow.
    for whole, parts in ((first, first["variants"]), (entry, entry["campaigns"])):
        for figure in ("treated", "treated_converted"):
            assert sum(getattr(p["uplift"], figure) for p in parts) == getattr(
                whole["uplift"], figure
            )
        assert sum(p["messages_sent"] for p in parts) == whole["messages_sent"]
    for figure in ("control", "control_converted"):
        assert sum(getattr(c["uplift"], figure) for c in entry["campaigns"]) == getattr(
            entry["uplift"], figure
        )
    assert (
        entry["messages_sent"] == FlowMessage.objects.filter(flow="campaign", state="sent").count()
    )
    assert entry["variants"] == []  # a campaign's variants are its own, not pooled
    assert sum(Decimal(c["revenue"]["messaged"]["CNY"]) for c in entry["campaigns"]) == Decimal(
        entry["revenue"]["messaged"]["CNY"]
    )
    assert Decimal(entry["revenue"]["messaged"]["CNY"]) + Decimal(
        entry["revenue"]["holdout"].get("CNY", "0")
    ) == sum(c.revenue for c in FlowConversion.objects.filter(flow="campaign"))

    out = StringIO()
    call_command(
        "retention_report", "--channel", CHANNEL, "--start", "2026-01-01", "--end", "2027-01-01",
        "--no-prediction", "--as-of", "2026-03-05", stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    assert "Campaigns and variants against the holdout" in text
    assert f"campaign {split.pk} (Spring arrivals): relative" in text
    assert f"campaign {split.pk} (Spring arrivals) variant b (B: coupon 20%): relative" in text
    assert "Variant B against variant A" in text
    assert (
        f"campaign {split.pk} (Spring arrivals) variant b (B: coupon 20%) against variant A: "
        "relative" in text
    )
    assert f"campaign {single.pk} (Plain): relative" in text
    assert max(len(line) for line in text.splitlines()) <= 100
    html = render_html(build_report(CHANNEL, date(2026, 1, 1), date(2027, 1, 1), predict=False))
    assert f"campaign {split.pk} variant b" in html  # a point of the uplift chart


def test_a_flows_variants_each_against_the_holdout_add_up_to_the_flow():
    customers = range(1, 41)
    welcome_with_reorders(customers, [], welcome_variant_b_subject_en="A gift for you")
    enrolled = list(FlowEnrolment.objects.filter(flow="welcome"))
    for enrolment in enrolled:  # the engine's draw: fixed per flow, channel, subject, cycle
        assert enrolment.variant == variant_of(
            f"{enrolment.subject_key}:1", salt=f"welcome-variant:{CHANNEL}", variants=2
        )
    a = [e.customer_id for e in enrolled if not e.is_holdout and e.variant == "a"]
    b = [e.customer_id for e in enrolled if not e.is_holdout and e.variant == "b"]
    held = [e.customer_id for e in enrolled if e.is_holdout]
    assert min(len(a), len(b), len(held)) >= 5
    for customer_id in [*a[:1], *b[:3], *held[:2]]:
        first_order(customer_id, email=f"c{customer_id}@example.com", at=T0 + DAY)

    welcome = entries(T0 + 2 * DAY)["welcome"]

    assert [(v["variant"], v["label"]) for v in welcome["variants"]] == [
        ("a", "A"),
        ("b", "B: subject"),
    ]
    va, vb = welcome["variants"]
    assert va["against_a"] is None
    assert vb["against_a"] == experiments.uplift(
        len(b), 3, len(a), 1, wording=experiments.VARIANT_B
    )
    assert va["uplift"] == experiments.uplift(
        len(a), 1, len(held), 2, wording=experiments.ENROLMENTS
    )
    assert vb["uplift"] == experiments.uplift(
        len(b), 3, len(held), 2, wording=experiments.ENROLMENTS
    )
    assert (va["revenue"], vb["revenue"]) == ({"CNY": "120.000"}, {"CNY": "360.000"})
    assert (va["messages_sent"], vb["messages_sent"]) == (len(a), len(b))
    assert welcome["uplift"] == experiments.uplift(
        len(a) + len(b), 4, len(held), 2, wording=experiments.ENROLMENTS
    )
    assert welcome["revenue"]["messaged"] == {"CNY": "480.000"}
    assert welcome["messages_sent"] == len(a) + len(b)
    conversions = FlowConversion.objects.filter(flow="welcome", is_holdout=False)
    assert sorted(conversions.values_list("variant", flat=True)) == ["a", "b", "b", "b"]


def test_a_flow_without_variants_lists_none():
    welcome_with_reorders(range(1, 11), [])
    assert entries(T0 + 2 * DAY)["welcome"]["variants"] == []
