"""Variant B of the care and birthday flows: B's coupon on the coupon step, B's gift points.

The same real order intake, outbox, rendering and recording coupon issuer as
``tests/integration/carts/test_flow_variants.py``.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail

from saleor_retention_plugin.models import FlowEnrolment, FlowMessage, LoyaltyAccount
from tests.integration.carts.cart_shop import CHANNEL, T0, sweep
from tests.integration.carts.test_flow_variants import coupon_of, issuer

from .shop import care_on, member, order, refulfil
from .test_birthday_and_member_day_flows import BIRTHDAY, birthdays_on

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)

__all__ = ["issuer"]  # the recording coupon issuer, as a fixture here too


def test_care_variant_b_sends_its_coupon_on_the_coupon_step_and_its_subject():
    care_on(
        care_coupon_discount="10%",
        care_variant_b_incentive="25%",
        care_variant_b_subject_en="A note about order {order_number}",
        care_variant_b_share="50",
    )
    for customer_id in range(1, 31):
        refulfil(order(customer_id, at=T0 - DAY), T0)
    # After an outage the newest overdue step goes alone: the day-30 coupon.
    sweep(T0 + 30 * DAY + HOUR)

    letters = Counter(FlowEnrolment.objects.filter(flow="care").values_list("variant", flat=True))
    assert letters["a"] >= 5
    assert letters["b"] >= 5
    assert len(mail.outbox) == 30  # no holdout here: everyone's coupon step went
    by_email = {email.to[0]: email for email in mail.outbox}
    for message in FlowMessage.objects.filter(flow="care").select_related("enrolment"):
        assert message.step == 4
        email = by_email[str(message.recipient_email)]
        assert message.enrolment is not None
        if message.enrolment.variant == "b":
            assert coupon_of(message) == "25%"
            assert "25% off" in email.body
            number = message.enrolment.data["order_number"]
            assert email.subject == f"A note about order {number}"
        else:
            assert coupon_of(message) == "10%"
            assert "10% off" in email.body
            assert email.subject == "10% off your next order"  # the template's


def test_birthday_variant_b_gives_its_points_to_messaged_members_only():
    birthdays_on(
        holdout_percent="30",
        birthday_variant_b_incentive="500",
        birthday_variant_b_subject_en="{gift_points} points for your birthday",
    )
    for customer_id in range(1, 41):
        member(customer_id, tier="gold", birthday=(3, 10))
    sweep(BIRTHDAY + 9 * HOUR)

    enrolled = list(FlowEnrolment.objects.filter(flow="birthday"))
    groups = Counter((e.is_holdout, e.variant) for e in enrolled)
    assert min(groups.values()) >= 3
    assert len(groups) == 4
    subjects = {email.to[0]: email.subject for email in mail.outbox}
    for enrolment in enrolled:
        balance = LoyaltyAccount.objects.get(
            channel_slug=CHANNEL, customer_id=enrolment.customer_id
        ).balance
        if enrolment.is_holdout:
            assert balance == 300  # the tier's gift, whichever letter: no message to test
            assert enrolment.email not in subjects
        elif enrolment.variant == "b":
            assert balance == 500
            assert subjects[str(enrolment.email)] == "500 points for your birthday"
        else:
            assert balance == 300
            assert subjects[str(enrolment.email)] == "Happy birthday!"
