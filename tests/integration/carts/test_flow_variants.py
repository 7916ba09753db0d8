"""A flow's variant B, set in the channel's configuration: drawn, sent, credited, reported.

Orders go through the real order intake, carts through the checkout hooks' upsert,
messages through the real outbox and email rendering; coupons through a recording issuer
(the engine's seam to Saleor's vouchers), so the coupon each customer got is read back.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from typing import TYPE_CHECKING

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command

from saleor_retention_plugin.conf import default_configuration, validate_configuration
from saleor_retention_plugin.domain import experiments
from saleor_retention_plugin.domain.holdout import variant_of
from saleor_retention_plugin.models import FlowConversion, FlowEnrolment, FlowMessage
from saleor_retention_plugin.selectors.flow_uplift import flow_uplifts
from saleor_retention_plugin.services import carts

from .cart_shop import (
    CHANNEL,
    SETTINGS,
    T0,
    configure,
    order,
    put_cart,
    shop_settings,
    sweep,
    tea_line,
)
from .test_lifecycle_flows import first_order

if TYPE_CHECKING:
    from saleor_retention_plugin.services.incentives import CouponRequest

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
ISSUED: dict[str, CouponRequest] = {}


class RecordingIssuer:
    """Codes like the plain issuer's; remembers what each message's coupon was for."""

    def issue(self, request: CouponRequest) -> str:
        ISSUED[request.idempotency_key] = request
        return f"CODE-{len(ISSUED)}"


@pytest.fixture(autouse=True)
def issuer(settings):
    settings.RETENTION_COUPON_ISSUER = f"{__name__}.RecordingIssuer"
    ISSUED.clear()
    yield
    ISSUED.clear()


def coupon_of(message: FlowMessage) -> str:
    incentive = ISSUED[message.idempotency_key].incentive
    return incentive.describe("CNY")


WELCOME_B = {
    "welcome_enabled": "true",
    "welcome_delay_hours": "2",
    "welcome_coupon_discount": "10%",
    "holdout_percent": "10",
    "welcome_variant_b_subject_en": "{coupon} off your next order ({tier})",
    "welcome_variant_b_subject_zh_hans": "下次购物立减 {coupon}",
    "welcome_variant_b_incentive": "15%",
    "welcome_variant_b_share": "30",
}


def test_welcome_variant_b_goes_to_its_share_with_its_subject_and_coupon():
    configure(**WELCOME_B)
    customers = range(1, 151)
    for customer_id in customers:
        first_order(customer_id, email=f"c{customer_id}@example.com")
    sweep(T0 + 2 * HOUR)

    enrolled = list(FlowEnrolment.objects.filter(flow="welcome"))
    for enrolment in enrolled:  # fixed per flow, channel, subject and cycle, at 30 % B
        assert enrolment.variant == variant_of(
            f"{enrolment.subject_key}:1",
            salt=f"welcome-variant:{CHANNEL}",
            variants=2,
            share_b=30,
        )
    messaged = [e for e in enrolled if not e.is_holdout]
    split = Counter(e.variant for e in messaged)
    assert len(messaged) == len(mail.outbox) == split["a"] + split["b"]
    assert 0.22 <= split["b"] / len(messaged) <= 0.38  # near the configured 30 %
    # The holdout is drawn apart: it holds customers of both variants.
    assert {e.variant for e in enrolled if e.is_holdout} == {"a", "b"}

    by_email = {email.to[0]: email for email in mail.outbox}
    for enrolment in messaged:
        email = by_email[str(enrolment.email)]
        message = FlowMessage.objects.get(enrolment=enrolment)
        if enrolment.variant == "b":
            assert email.subject == "15% off your next order (Member)"
            assert coupon_of(message) == "15%"
            assert "15% off" in email.body
        else:
            assert email.subject == "Thank you for your first order"
            assert coupon_of(message) == "10%"
            assert "10% off" in email.body
        assert str(message.coupon_code) in str(email.body)


def test_variant_b_subject_in_the_customers_language():
    configure(**{**WELCOME_B, "welcome_variant_b_share": "99", "holdout_percent": "0"})
    first_order(1, email="mei@example.com", language="zh-Hans")
    first_order(2, email="ann@example.com", language="en")
    assert set(FlowEnrolment.objects.values_list("variant", flat=True)) == {"b"}

    sweep(T0 + 2 * HOUR)

    subjects = {email.to[0]: email.subject for email in mail.outbox}
    assert subjects == {
        "mei@example.com": "下次购物立减 15%",
        "ann@example.com": "15% off your next order (Member)",
    }
    assert [coupon_of(m) for m in FlowMessage.objects.all()] == ["15%", "15%"]


def test_no_chinese_subject_set_keeps_the_template_subject_with_bs_coupon():
    configure(
        **{**WELCOME_B, "welcome_variant_b_share": "99", "holdout_percent": "0",
           "welcome_variant_b_subject_zh_hans": ""}
    )  # fmt: skip
    first_order(1, email="mei@example.com", language="zh-Hans")
    sweep(T0 + 2 * HOUR)
    [email] = mail.outbox
    assert email.subject == "感谢您的首次下单"  # the zh_hans template's, not the English B
    assert coupon_of(FlowMessage.objects.get()) == "15%"


def test_changing_the_variants_later_reassigns_no_enrolment():
    configure(**{**WELCOME_B, "welcome_variant_b_share": "50"})
    for customer_id in range(1, 41):
        first_order(customer_id, email=f"c{customer_id}@example.com")
    before = dict(FlowEnrolment.objects.values_list("pk", "variant"))

    configure(**{**WELCOME_B, "welcome_variant_b_share": "5"})
    for customer_id in range(41, 81):
        first_order(customer_id, email=f"c{customer_id}@example.com")
    sweep(T0 + 2 * HOUR)

    after = dict(FlowEnrolment.objects.values_list("pk", "variant"))
    assert {pk: after[pk] for pk in before} == before
    later = Counter(v for pk, v in after.items() if pk not in before)
    assert later["b"] < Counter(before.values())["b"] / 2  # the new share, for new ones only
    configure(welcome_enabled="true")  # variant B removed: new enrolments get no letter
    first_order(99, email="c99@example.com")
    assert FlowEnrolment.objects.get(customer_id=99).variant == ""


def test_variant_rows_add_up_to_the_flow_and_b_is_compared_with_a():
    configure(**{**WELCOME_B, "holdout_percent": "30", "welcome_variant_b_share": "50"})
    for customer_id in range(1, 81):
        first_order(customer_id, email=f"c{customer_id}@example.com")
    sweep(T0 + 2 * HOUR)
    enrolled = list(FlowEnrolment.objects.filter(flow="welcome"))
    a = [int(e.customer_id or 0) for e in enrolled if not e.is_holdout and e.variant == "a"]
    b = [int(e.customer_id or 0) for e in enrolled if not e.is_holdout and e.variant == "b"]
    held = [int(e.customer_id or 0) for e in enrolled if e.is_holdout]
    for customer_id in [*a[:2], *b[:6], *held[:1]]:
        first_order(customer_id, email=f"c{customer_id}@example.com", at=T0 + DAY)

    [welcome] = [e for e in flow_uplifts(CHANNEL, now=T0 + 2 * DAY) if e["flow"] == "welcome"]

    va, vb = welcome["variants"]
    assert (va["label"], vb["label"]) == ("A", "B: subject, coupon 15%")
    assert va["uplift"].treated + vb["uplift"].treated == welcome["uplift"].treated
    assert (
        va["uplift"].treated_converted + vb["uplift"].treated_converted
        == welcome["uplift"].treated_converted
        == 8
    )
    assert va["messages_sent"] + vb["messages_sent"] == welcome["messages_sent"] == welcome["sent"]
    revenue = Decimal(va["revenue"]["CNY"]) + Decimal(vb["revenue"]["CNY"])
    assert (
        revenue
        == Decimal(welcome["revenue"]["messaged"]["CNY"])
        == sum(c.revenue for c in FlowConversion.objects.filter(flow="welcome", is_holdout=False))
    )
    assert Counter(
        FlowConversion.objects.filter(flow="welcome", is_holdout=False).values_list(
            "variant", flat=True
        )
    ) == {"a": 2, "b": 6}
    assert vb["against_a"] == experiments.uplift(
        len(b), 6, len(a), 2, wording=experiments.VARIANT_B
    )
    assert vb["against_a"].too_small
    assert "Too few enrolments to tell yet" in vb["against_a"].verdict

    out = StringIO()
    call_command(
        "retention_report", "--channel", CHANNEL, "--start", "2026-01-01", "--end", "2027-01-01",
        "--no-prediction", "--as-of", "2026-03-05", stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    assert "welcome variant b (B: subject, coupon 15%)" in text
    assert "Variant B against variant A" in text
    assert "welcome variant b (B: subject, coupon 15%) against variant A: relative" in text
    assert max(len(line) for line in text.splitlines()) <= 100  # the table fits


def test_cart_reminders_variant_b_coupon_and_its_report_rows(track):
    configure(
        cart_incentive_step="1",
        cart_incentive_discount="10%",
        cart_variant_b_incentive="20%",
        cart_variant_b_subject_en="Your {total} cart: {coupon} off today",
        holdout_percent="20",
    )
    tokens = [f"00000000-0000-0000-0000-{n:012d}" for n in range(1, 61)]
    for n, token in enumerate(tokens, start=1):
        put_cart(token, tea_line(), email=f"c{n}@example.com")
        track(token, email=f"c{n}@example.com")
    sweep(T0 + 2 * HOUR)

    series = {
        e.subject_key.removeprefix("cart:"): e for e in FlowEnrolment.objects.filter(flow="cart")
    }
    assert {e.variant for e in series.values()} == {"a", "b"}
    by_email = {email.to[0]: email for email in mail.outbox}
    for token, enrolment in series.items():
        if enrolment.is_holdout:
            continue
        message = FlowMessage.objects.get(subject_key=token, step=1)
        email = by_email[str(enrolment.email)]
        if enrolment.variant == "b":
            assert coupon_of(message) == "20%"
            assert email.subject == "Your ¥88.00 cart: 20% off today"
        else:
            assert coupon_of(message) == "10%"
            assert email.subject == "You left something in your cart"
    reminded_b = [t for t, e in series.items() if not e.is_holdout and e.variant == "b"]
    carts.record_order(
        order(reminded_b[0], at=T0 + 3 * HOUR, email=series[reminded_b[0]].email), shop_settings()
    )
    assert FlowConversion.objects.get().variant == "b"

    [cart] = [e for e in flow_uplifts(CHANNEL, now=T0 + DAY) if e["flow"] == "cart"]
    va, vb = cart["variants"]
    assert vb["label"] == "B: subject, coupon 20%"
    assert va["uplift"].treated + vb["uplift"].treated == cart["uplift"].treated
    assert (va["uplift"].treated_converted, vb["uplift"].treated_converted) == (0, 1)
    assert va["messages_sent"] + vb["messages_sent"] == cart["messages_sent"]
    assert vb["revenue"] == cart["revenue"]["messaged"]
    assert vb["against_a"].treated == vb["uplift"].treated


def test_a_bad_variant_is_refused_through_the_dashboards_check_and_nothing_changes():
    """The plugin's ``validate_plugin_configuration`` path, on a Saleor-shaped list."""
    stored = default_configuration()
    good = [
        {**item, "value": "Hello {tier}"} if item["name"] == "tier_upgrade_variant_b_subject_en"
        else {**item, "value": True} if item["name"] == "tier_upgrade_enabled"
        else item
        for item in stored
    ]  # fmt: skip
    assert validate_configuration(good).variants.for_flow("tier_upgrade") is not None

    bad = [
        {**item, "value": {
            "welcome_variant_b_share": "100",
            "welcome_variant_b_subject_en": "Hi {first_name}",
            "care_variant_b_incentive": "-10%",
            "winback_variant_b_incentive": "15%, 20%",
        }[item["name"]]}
        if item["name"] in {"welcome_variant_b_share", "welcome_variant_b_subject_en",
                            "care_variant_b_incentive", "winback_variant_b_incentive"}
        else item
        for item in good
    ]  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        validate_configuration(bad)
    errors = refused.value.error_dict
    assert set(errors) == {
        "welcome_variant_b_share",
        "welcome_variant_b_subject_en",
        "care_variant_b_incentive",
        "winback_variant_b_incentive",
    }
    assert {error.code for field in errors.values() for error in field} == {"invalid"}
    assert (
        "Unknown template variable {first_name}"
        in errors["welcome_variant_b_subject_en"][0].message
    )

    with pytest.raises(ValidationError) as stray:
        validate_configuration({"points_expiring_variant_b_incentive": "10%"})
    assert set(stray.value.error_dict) == {"points_expiring_variant_b_incentive"}
    # What was refused never reaches the channel: it keeps sending as configured before.
    assert SETTINGS[CHANNEL].variants.for_flow("welcome") is None
