"""Birthday greetings and member-day announcements on the engine: who, when, once.

Birthdays come from ``CustomerProfile`` (``tiers.set_birthday``), gifts from the tier's
``birthday_gift`` benefit; member days through ``schedule_member_day``. Messages go
through the real outbox and email rendering.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from saleor_retention_plugin.domain.holdout import is_in_holdout
from saleor_retention_plugin.models import (
    BenefitKind,
    BirthdayGreeting,
    FlowEnrolment,
    FlowMessage,
    LoyaltyAccount,
    PointsEntry,
    TierBenefit,
)
from saleor_retention_plugin.services import consent, privacy, tiers
from saleor_retention_plugin.services.care_flows import MemberDayFlow
from saleor_retention_plugin.services.flows import FLOWS
from saleor_retention_plugin.services.member_days import cancel_member_day, schedule_member_day
from tests.integration.carts.cart_shop import CHANNEL, configure, sweep

from .shop import member, sent

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
BIRTHDAY = datetime(2026, 3, 10, tzinfo=UTC)  # midnight UTC, the shop's zone unless set


def gifts():
    ladder = {tier.code: tier for tier in tiers.seed_default_tiers(CHANNEL)}
    TierBenefit.objects.filter(kind=BenefitKind.BIRTHDAY_GIFT).delete()
    tiers.create_benefit(ladder["silver"].pk, kind=BenefitKind.BIRTHDAY_GIFT, value=100)
    tiers.create_benefit(
        ladder["gold"].pk, kind=BenefitKind.BIRTHDAY_GIFT, value=300, config={"coupon": "15%"}
    )


def birthdays_on(**overrides):
    gifts()
    return configure(**{"birthday_greetings_enabled": "true", "holdout_percent": "0", **overrides})


def balance(customer_id):
    return LoyaltyAccount.objects.get(channel_slug=CHANNEL, customer_id=customer_id).balance


class TestBirthday:
    def test_the_gold_gift_in_the_morning_once_a_year(self):
        birthdays_on()
        member(1, tier="gold", birthday=(3, 10))
        member(2, tier="silver", birthday=(3, 11))
        assert sweep(BIRTHDAY + 8 * HOUR) == []  # before the greeting hour (9)
        assert sweep(BIRTHDAY + 9 * HOUR) == ["sent"]
        [email] = mail.outbox
        assert email.to == ["c1@example.com"]
        assert "Happy birthday" in email.body
        assert "We added 300 points" in email.body
        code = FlowMessage.objects.get(flow="birthday").coupon_code
        assert code
        assert f"code {code} gives 15% off" in email.body
        assert balance(1) == 300
        for hours in (10, 20, 33):
            assert sweep(BIRTHDAY + hours * HOUR) in ([], ["sent"])
        assert [(flow, customer) for flow, _, customer in sent()] == [
            ("birthday", 1),
            ("birthday", 2),
        ]
        assert balance(1) == 300
        assert balance(2) == 100
        assert sweep(BIRTHDAY + 365 * DAY + 9 * HOUR) == ["sent"]  # 2027
        assert balance(1) == 600
        assert BirthdayGreeting.objects.filter(customer_id=1).count() == 2

    def test_the_shops_morning_in_its_timezone(self):
        birthdays_on(timezone="Asia/Shanghai")
        member(1, tier="gold", birthday=(3, 10))
        assert sweep(BIRTHDAY) == []  # 08:00 in Shanghai
        assert sweep(BIRTHDAY + HOUR) == ["sent"]  # 09:00 there

    def test_quiet_hours_hold_the_greeting(self):
        birthdays_on(quiet_hours_start="08:00", quiet_hours_end="11:00")
        member(1, tier="gold", birthday=(3, 10))
        assert sweep(BIRTHDAY + 9 * HOUR) == []  # timed for the end of quiet hours
        assert sweep(BIRTHDAY + 11 * HOUR) == ["sent"]

    def test_the_holdout_gets_the_gift_points_but_no_message(self):
        birthdays_on(holdout_percent="50")
        held = next(
            n
            for n in range(1, 200)
            if is_in_holdout(f"customer:{n}:2026", salt=f"birthday-holdout:{CHANNEL}", percent=50)
        )
        member(held, tier="gold", birthday=(3, 10))
        assert sweep(BIRTHDAY + 9 * HOUR) == []
        assert mail.outbox == []
        assert balance(held) == 300
        assert FlowEnrolment.objects.get().is_holdout
        sweep(BIRTHDAY + 10 * HOUR)
        assert PointsEntry.objects.filter(idempotency_key__startswith="birthday:").count() == 1

    def test_opted_out_anonymised_or_off(self):
        birthdays_on()
        member(1, tier="gold", birthday=(3, 10))
        member(2, tier="gold", birthday=(3, 10))
        consent.record_opt_out(CHANNEL, customer_id=1)
        privacy.anonymise_customer_everywhere(2, "c2@example.com")
        assert sweep(BIRTHDAY + 9 * HOUR) == []
        configure(birthday_greetings_enabled="false")
        member(3, tier="gold", birthday=(3, 10))
        assert sweep(BIRTHDAY + 10 * HOUR) == []
        assert mail.outbox == []

    def test_no_greeting_when_the_day_is_missed(self):
        birthdays_on(quiet_hours_start="08:00", quiet_hours_end="12:00")
        member(1, tier="gold", birthday=(3, 10))
        assert sweep(BIRTHDAY + 9 * HOUR) == []  # timed for the end of quiet hours
        # The sweep was down until three days later: a late "happy birthday" is not sent.
        assert sweep(BIRTHDAY + 3 * DAY) == ["cancelled:birthday_passed"]
        assert balance(1) == 300  # the gift stays


class TestMemberDay:
    START = datetime(2026, 3, 20, tzinfo=UTC)

    def schedule(self, **extra):
        tiers.seed_default_tiers(CHANNEL)
        configure(member_day_announcements_enabled="true", holdout_percent="0")
        return schedule_member_day(
            CHANNEL,
            name="Spring double points",
            starts_at=self.START,
            ends_at=self.START + DAY,
            multiplier=Decimal("2"),
            early_access_hours={"gold": 24, "silver": 12},
            announce_hours=48,
            **extra,
        )

    def test_higher_tiers_are_told_first_each_before_their_access(self):
        self.schedule()
        member(3)  # no tier
        member(2, tier="silver")
        member(1, tier="gold")
        assert sweep(self.START - 73 * HOUR) == []
        assert sweep(self.START - 71 * HOUR) == ["sent"]  # gold: 24 + 48 hours ahead
        assert "Spring double points" in mail.outbox[0].body
        assert "2x points" in mail.outbox[0].body
        assert "start early: from 2026-03-19 00:00" in mail.outbox[0].body
        assert sweep(self.START - 59 * HOUR) == ["sent"]  # silver: 12 + 48
        assert sweep(self.START - 47 * HOUR) == ["sent"]  # no tier: 48
        assert "start early" not in mail.outbox[2].body
        for hours in (46, 30, 1):
            assert sweep(self.START - hours * HOUR) == []
        assert [customer for _, _, customer in sent("member_day")] == [1, 2, 3]

    def test_all_at_once_after_an_outage_higher_tiers_first(self):
        self.schedule()
        for customer, tier in ((3, None), (2, "silver"), (1, "gold")):
            member(customer, tier=tier)
        assert sweep(self.START - 40 * HOUR) == ["sent"] * 3
        assert [customer for _, _, customer in sent("member_day")] == [1, 2, 3]

    def test_a_cancelled_window_is_not_announced(self):
        day = self.schedule()
        configure(
            member_day_announcements_enabled="true",
            holdout_percent="0",
            quiet_hours_start="00:00",
            quiet_hours_end="06:00",
        )
        member(1, tier="gold")
        assert sweep(self.START - 71 * HOUR) == []  # timed for the end of quiet hours; 01:00
        cancel_member_day(CHANNEL, day.pk)
        assert sweep(self.START - 66 * HOUR) == ["cancelled:member_day_cancelled"]
        assert mail.outbox == []

    def test_opted_out(self):
        self.schedule()
        member(1, tier="gold")
        consent.record_opt_out(CHANNEL, customer_id=1)
        assert sweep(self.START - 71 * HOUR) == []
        assert FlowEnrolment.objects.get().stop_reason == "opted_out"

    def test_off_in_the_channel(self):
        self.schedule()
        member(1, tier="gold")
        configure(member_day_announcements_enabled="false")
        assert sweep(self.START - 71 * HOUR) == []
        assert not FlowEnrolment.objects.exists()

    def test_the_holdout_is_not_told(self):
        day = self.schedule()
        configure(member_day_announcements_enabled="true", holdout_percent="50")
        held = next(
            n
            for n in range(1, 200)
            if is_in_holdout(
                f"customer:{n}:{day.pk}", salt=f"member_day-holdout:{CHANNEL}", percent=50
            )
        )
        member(held, tier="gold")
        assert sweep(self.START - 71 * HOUR) == []
        assert FlowEnrolment.objects.get().is_holdout
        assert mail.outbox == []

    def test_a_scan_costs_the_members_still_to_tell(self):
        self.schedule()
        member(1, tier="gold")
        member(2, tier="gold")
        assert sweep(self.START - 71 * HOUR) == ["sent", "sent"]
        flow = FLOWS["member_day"]
        assert isinstance(flow, MemberDayFlow)
        with CaptureQueriesContext(connection) as queries:
            assert list(flow.scan(self.START - 70 * HOUR - 30 * MINUTE)) == []
        # The same hour and the same tiers announcing: no member is read again.
        assert not [q for q in queries.captured_queries if "loyaltyaccount" in q["sql"]]
        member(4, tier="gold")  # joined the tier meanwhile: the next hour's scan finds them
        assert sweep(self.START - 70 * HOUR) == ["sent"]
        assert sweep(self.START - 69 * HOUR) == []  # the others were told already, in SQL
        assert [customer for _, _, customer in sent("member_day")] == [1, 2, 4]
