"""Staff campaigns reach their segment minus opt-outs and holdout, once, at local time.

Through the real sweep, outbox and email rendering, at the recipients' wall time.

Segments are the stored ``CustomerSegment`` rows the periodic refresh writes; contacts
come from the purchase history, zones and languages from the customers' latest carts.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail

from saleor_retention_plugin.domain import campaigns as rules
from saleor_retention_plugin.domain.holdout import is_in_holdout
from saleor_retention_plugin.domain.orders import OrderSnapshot
from saleor_retention_plugin.models import (
    Campaign,
    CampaignState,
    CustomerSegment,
    FlowConversion,
    FlowEnrolment,
    FlowMessage,
    PurchasedOrder,
    TrackedCart,
)
from saleor_retention_plugin.services import consent
from saleor_retention_plugin.services.campaign_enrolment import (
    count_recipients,
    enrol_next_batch,
)
from saleor_retention_plugin.services.campaign_flow import recipients
from saleor_retention_plugin.services.campaigns import cancel_campaign, schedule_campaign
from saleor_retention_plugin.services.errors import InvalidInput
from saleor_retention_plugin.services.order_intake import apply_order

from .cart_shop import CHANNEL, configure, shop_settings, sweep

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
SEND_ON = date(2026, 3, 3)
TEN = time(10, 0)
SHANGHAI_TEN = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
NEW_YORK_TEN = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # 10:00 in America/New_York (EST)
FIRST = rules.first_moment(SEND_ON, TEN)  # 10:00 in UTC+14: enrolling starts
MINUTE = timedelta(minutes=1)


def campaigns_on(**overrides):
    return configure(campaigns_enabled="true", timezone="Asia/Shanghai", **overrides)


def member(key, *, high_value=True, segment="active", email=None):
    CustomerSegment.objects.create(
        channel_slug=CHANNEL,
        customer_key=key,
        segment=segment,
        cycle_days=30,
        orders=2,
        revenue=Decimal("300.00"),
        currency="CNY",
        first_order_on=date(2025, 6, 1),
        last_order_on=date(2026, 2, 1),
        recency_score=4,
        frequency_score=4,
        monetary_score=4,
        discount_share=Decimal("0.5"),
        discount_driven=False,
        high_value=high_value,
        as_of=date(2026, 2, 28),
        computed_at=NOW,
    )
    if key.startswith("customer:"):
        PurchasedOrder.objects.create(
            order_id=str(uuid.uuid4()),
            channel_slug=CHANNEL,
            customer_key=key,
            customer_id=int(key.removeprefix("customer:")),
            email=email or f"c{key.removeprefix('customer:')}@example.com",
            placed_at=datetime(2026, 2, 1, tzinfo=UTC),
            status="fulfilled",
            currency="CNY",
            net_goods_amount=Decimal("150.00"),
        )


def cart_of(customer_id, *, zone, language="en"):
    TrackedCart.objects.create(
        checkout_token=uuid.uuid4(),
        channel_slug=CHANNEL,
        customer_id=customer_id,
        email=f"c{customer_id}@example.com",
        language_code=language,
        timezone=zone,
        last_activity_at=datetime(2026, 2, 20, tzinfo=UTC),
    )


def campaign(**values):
    return schedule_campaign(
        CHANNEL,
        shop_settings(),
        now=NOW,
        **{
            "name": "Spring arrivals",
            "segment": "high_value",
            "send_on": SEND_ON,
            "send_time": TEN,
            "template": "new_arrivals",
            "holdout_percent": Decimal(0),
            **values,
        },
    )


def recipients_of_mail():
    return sorted(address for email in mail.outbox for address in email.to)


def order_by(customer_id, at):
    snapshot = OrderSnapshot(
        order_id=str(uuid.uuid4()),
        number="9",
        channel_slug=CHANNEL,
        channel_currency="CNY",
        currency="CNY",
        customer_id=customer_id,
        email=f"c{customer_id}@example.com",
        status="unfulfilled",
        is_fully_paid=True,
        points_base_amount=Decimal("80"),
        total_amount=Decimal("80"),
        refunded_amount=Decimal(0),
        created_at=at,
        language_code="en",
    )
    apply_order(snapshot, shop_settings(), now=at)


class TestSending:
    def test_exactly_the_segment_minus_opted_out_once_at_each_local_ten(self):
        campaigns_on()
        for n in (1, 2, 3, 4):
            member(f"customer:{n}")
        member("customer:5", high_value=False)  # not in the segment
        member("anonymised:x1")  # forgotten: never contacted
        member("email:guest@example.com")  # a guest, by email
        cart_of(2, zone="America/New_York", language="zh-hans")
        consent.record_opt_out(CHANNEL, email="c3@example.com", customer_id=3)
        sent = campaign()

        assert sweep(FIRST - MINUTE) == []
        assert not FlowEnrolment.objects.exists()  # not yet anywhere
        sweep(FIRST)
        assert Campaign.objects.get().state == CampaignState.SENDING
        assert sorted(FlowEnrolment.objects.values_list("subject_key", flat=True)) == sorted(
            ["customer:1", "customer:2", "customer:4", FlowEnrolment.objects.get(
                customer_id__isnull=True).subject_key]
        )  # fmt: skip
        assert mail.outbox == []  # enrolled ahead, nobody's ten o'clock yet

        sweep(SHANGHAI_TEN - MINUTE)
        assert mail.outbox == []
        sweep(SHANGHAI_TEN)
        assert recipients_of_mail() == ["c1@example.com", "c4@example.com", "guest@example.com"]
        assert {email.subject for email in mail.outbox} == {"New arrivals are in"}

        sweep(NEW_YORK_TEN - MINUTE)
        assert len(mail.outbox) == 3
        sweep(NEW_YORK_TEN)
        assert len(mail.outbox) == 4
        assert mail.outbox[3].to == ["c2@example.com"]
        assert mail.outbox[3].subject == "新品上架啦"  # the customer's language

        sweep(NEW_YORK_TEN + timedelta(days=1))
        assert len(mail.outbox) == 4  # once
        assert Campaign.objects.get(pk=sent.pk).state == CampaignState.SENT
        assert FlowMessage.objects.filter(flow="campaign", state="sent").count() == 4

    def test_the_holdout_is_the_campaigns_own_share_and_gets_nothing(self):
        campaigns_on()
        for n in range(1, 41):
            member(f"customer:{n}")
        sent = campaign(holdout_percent=Decimal(30))
        sweep(FIRST)
        sweep(SHANGHAI_TEN)
        expected_holdout = {
            f"customer:{n}"
            for n in range(1, 41)
            if is_in_holdout(
                f"customer:{n}:{sent.pk}", salt=f"campaign-holdout:{CHANNEL}", percent=30
            )
        }
        assert 0 < len(expected_holdout) < 40
        held = set(
            FlowEnrolment.objects.filter(is_holdout=True).values_list("subject_key", flat=True)
        )
        assert held == expected_holdout
        assert len(mail.outbox) == 40 - len(expected_holdout)
        assert not {f"c{key.split(':')[1]}@example.com" for key in held} & set(recipients_of_mail())

    def test_custom_text_coupon_and_variants_split_and_are_attributed(self):
        campaigns_on()
        for n in range(1, 101):
            member(f"customer:{n}")
        sent = campaign(
            template="custom",
            subject={"en": "Hello {tier} member", "zh-Hans": "{tier}会员您好"},
            body={"en": "You have {points} points. <b>Spring</b> is here.", "zh-Hans": "春天来了"},
            coupon_discount="10%",
            variant_b={"coupon_discount": "20%"},
        )
        sweep(FIRST)
        variants = dict(FlowEnrolment.objects.values_list("subject_key", "variant"))
        assert set(variants.values()) == {"a", "b"}
        assert 30 <= list(variants.values()).count("b") <= 70
        assert all(
            variant == rules.variant_of(sent.pk, key, variants=2)
            for key, variant in variants.items()
        )
        sweep(SHANGHAI_TEN)
        assert len(mail.outbox) == 100
        by_address = {email.to[0]: email for email in mail.outbox}
        b_customer = next(int(k.split(":")[1]) for k, v in variants.items() if v == "b")
        a_customer = next(int(k.split(":")[1]) for k, v in variants.items() if v == "a")
        assert "20% off" in by_address[f"c{b_customer}@example.com"].body
        assert "10% off" in by_address[f"c{a_customer}@example.com"].body
        assert "You have 0 points. <b>Spring</b> is here." in by_address[
            f"c{a_customer}@example.com"].body  # fmt: skip
        a_email: Any = by_address[f"c{a_customer}@example.com"]  # EmailMultiAlternatives
        html = a_email.alternatives[0][0]
        assert "&lt;b&gt;Spring&lt;/b&gt;" in html  # the merchant's text is escaped in HTML
        assert all(message.coupon_code for message in FlowMessage.objects.filter(flow="campaign"))

        order_by(b_customer, SHANGHAI_TEN + timedelta(hours=5))
        conversion = FlowConversion.objects.get(flow="campaign")
        assert (conversion.variant, conversion.is_holdout, conversion.step) == ("b", False, 1)

    def test_a_cancelled_campaign_sends_nothing_and_a_sent_one_cannot_be_cancelled(self):
        campaigns_on()
        member("customer:1")
        first = campaign()
        sweep(FIRST)
        cancel_campaign(CHANNEL, first.pk, now=FIRST + MINUTE)
        sweep(SHANGHAI_TEN)
        assert mail.outbox == []
        assert FlowEnrolment.objects.get().stop_reason == "campaign_cancelled"

        second = campaign(name="Again")
        sweep(SHANGHAI_TEN + MINUTE)
        sweep(SHANGHAI_TEN + 2 * MINUTE)
        assert len(mail.outbox) == 1
        with pytest.raises(InvalidInput):
            cancel_campaign(CHANNEL, second.pk, now=SHANGHAI_TEN + 3 * MINUTE)
        assert Campaign.objects.get(pk=second.pk).state != CampaignState.CANCELLED

    def test_a_scan_that_died_before_its_cursor_was_saved_enrols_nobody_twice(self):
        campaigns_on()
        for n in (1, 2, 3):
            member(f"customer:{n}")
        sent = campaign()
        sweep(FIRST)
        # As if the sweep died after inserting the batch but before saving its progress.
        Campaign.objects.filter(pk=sent.pk).update(enrolled_through="", enrolment_done=False)
        sweep(FIRST + MINUTE)
        assert FlowEnrolment.objects.filter(flow="campaign").count() == 3
        sweep(SHANGHAI_TEN)
        sweep(SHANGHAI_TEN + MINUTE)
        assert recipients_of_mail() == ["c1@example.com", "c2@example.com", "c3@example.com"]

    def test_nothing_while_campaigns_are_off_in_the_channel(self):
        configure(timezone="Asia/Shanghai")  # campaigns_enabled defaults to false
        member("customer:1")
        campaign()
        sweep(FIRST)
        sweep(SHANGHAI_TEN)
        assert mail.outbox == []
        assert not FlowEnrolment.objects.exists()

    def test_a_campaign_found_days_late_is_not_sent(self):
        campaigns_on()
        member("customer:1")
        campaign()
        sweep(SHANGHAI_TEN + timedelta(days=3))
        sweep(SHANGHAI_TEN + timedelta(days=3, minutes=1))
        assert mail.outbox == []
        assert FlowEnrolment.objects.get().stop_reason == "campaign_too_late"


class TestRefusals:
    @pytest.mark.parametrize(
        ("values", "field"),
        [
            ({"segment": "loyal"}, "segment"),
            ({"segment": "rfm:9**"}, "segment"),
            ({"send_on": date(2026, 2, 28)}, "sendAt"),
            (
                {"template": "custom", "subject": {"en": "Hi {name}"}, "body": {"en": "x"}},
                "subject",
            ),
            (
                {"template": "custom", "subject": {"en": "Hi"}, "body": {"en": "{points:>9}"}},
                "body",
            ),
            ({"template": "custom", "subject": {"en": "Hi"}}, "body"),
            ({"template": "newsletter"}, "template"),
            ({"holdout_percent": Decimal(60)}, "holdoutPercent"),
            ({"holdout_percent": Decimal(-1)}, "holdoutPercent"),
            ({"coupon_discount": "ten"}, "couponDiscount"),
            ({"variant_b": {"colour": "red"}}, "variantB"),
            ({"channel": "sms"}, "channel"),
        ],
    )
    def test_bad_input_is_a_field_error_and_writes_nothing(self, values, field):
        campaigns_on()
        with pytest.raises(InvalidInput) as refused:
            campaign(**values)
        assert field in {error.field for error in refused.value.errors}
        assert not Campaign.objects.exists()


class TestSetBasedEnrolment:
    """PostgreSQL enrols a segment with ``INSERT ... SELECT``; the Python path must agree."""

    def test_the_sql_batches_enrol_exactly_whom_the_python_recipients_name(self):
        campaigns_on()
        for n in range(1, 31):
            member(f"customer:{n}")
        member("email:guest@example.com")
        member("email:other@example.com")
        member("anonymised:x1")
        cart_of(2, zone="America/New_York", language="zh-hans")
        cart_of(3, zone="Mars/Olympus_Mons")  # not a zone: the shop's
        cart_of(4, zone="", language="")
        TrackedCart.objects.create(  # a guest's cart, found by email
            checkout_token=uuid.uuid4(), channel_slug=CHANNEL, email="guest@example.com",
            language_code="zh-hans", timezone="Europe/Paris",
            last_activity_at=datetime(2026, 2, 21, tzinfo=UTC),
        )  # fmt: skip
        consent.record_opt_out(CHANNEL, customer_id=5)
        consent.record_opt_out("another-channel", email="c6@example.com")  # any channel counts
        consent.record_opt_out(CHANNEL, email="other@example.com")
        PurchasedOrder.objects.filter(customer_key="customer:7").update(email=None)
        sent = campaign(
            holdout_percent=Decimal(30),
            coupon_discount="10%",
            variant_b={"coupon_discount": "20%"},
        )
        expected, after = [], ""
        while True:
            batch, last = recipients(sent, "Asia/Shanghai", after=after, limit=4)
            expected += batch
            if last is None:
                break
            after = last

        enrolled, after, rounds = 0, "", 0
        while True:
            new, last = enrol_next_batch(sent, "Asia/Shanghai", after=after, limit=4)
            enrolled += new
            rounds += 1
            if last is None:
                break
            after = last

        assert rounds == 10  # 33 segment rows in batches of 4, then the empty end
        rows = FlowEnrolment.objects.filter(flow="campaign", cycle=sent.pk)
        got = {
            (r.subject_key, r.customer_id, r.email, r.language_code, r.anchor_at,
             r.data["timezone"], r.data["currency"], r.is_holdout, r.variant, r.next_check_at)
            for r in rows
        }  # fmt: skip
        want = {
            (r.subject.key, r.customer_id, r.email, r.language_code, r.send_at, r.timezone,
             r.currency, r.is_holdout, r.variant, r.send_at)
            for r in expected
        }  # fmt: skip
        assert got == want
        # 33 keys less the anonymised one and three opted out (by id, by email anywhere).
        assert enrolled == len(want) == 29
        assert not {5, 6} & {r.customer_id for r in rows}
        assert "other@example.com" not in {r.email for r in rows}
        assert 0 < sum(r.is_holdout for r in rows) < len(want)
        assert {r.variant for r in rows} == {"a", "b"}
        by_key = {r.subject_key: r for r in rows}
        assert by_key["customer:2"].anchor_at == NEW_YORK_TEN
        assert by_key["customer:3"].anchor_at == SHANGHAI_TEN
        assert by_key["customer:7"].email is None
        # The preview's counts, one statement over the segment, agree with both.
        held = sum(r.is_holdout for r in expected)
        assert count_recipients(sent) == (len(expected) - held, held)
        assert by_key["customer:4"].data["timezone"] == "Asia/Shanghai"
        assert by_key["customer:2"].language_code == "zh-hans"
        # Once: the whole segment again inserts nothing.
        assert enrol_next_batch(sent, "Asia/Shanghai", limit=100)[0] == 0
        assert rows.count() == 29
