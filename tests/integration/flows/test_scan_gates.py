"""Scan gates: an idle sweep does not scan again; every change a scan reads re-opens it.

Each test spies on the flow's ``scan`` (``scans``) and drives the real sweep. A gate that
never re-opened would fail the re-opening tests: the greeting, the campaign or the
announcement they expect would not come.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail

from saleor_retention_plugin.models import FlowEnrolment, ScanGate
from saleor_retention_plugin.services import birthday_greetings, ledger, scan_gates, tiers
from saleor_retention_plugin.services.campaigns import schedule_campaign
from saleor_retention_plugin.services.care_flows import BirthdayFlow
from saleor_retention_plugin.services.flows import FLOWS
from saleor_retention_plugin.services.member_days import schedule_member_day
from tests.integration.carts.cart_shop import CHANNEL, configure, shop_settings, sweep

from .shop import member

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
BIRTHDAY = datetime(2026, 3, 10, tzinfo=UTC)  # midnight UTC, the shop's zone


@pytest.fixture
def scans(monkeypatch):
    """``scans[flow]``: how many times the sweep let the flow's scan run."""
    counted: dict[str, int] = {}
    for name in ("birthday", "member_day", "campaign", "replenishment", "winback"):
        flow = FLOWS[name]
        original = flow.scan  # type: ignore[attr-defined]

        def spy(now, _original=original, _name=name):
            counted[_name] = counted.get(_name, 0) + 1
            return _original(now)

        monkeypatch.setattr(flow, "scan", spy)
    return counted


def greetings_on(**overrides):
    return configure(**{"birthday_greetings_enabled": "true", "holdout_percent": "0", **overrides})


class TestBirthdayGate:
    def test_idle_sweeps_of_the_same_day_do_not_scan_again(self, scans):
        greetings_on()
        member(1, birthday=(3, 11))
        for minutes in (600, 601, 700, 1000):
            assert sweep(BIRTHDAY + minutes * MINUTE) == []
        assert scans["birthday"] == 1

    def test_the_greeting_hour_opens_the_gate(self, scans):
        greetings_on()
        member(1, birthday=(3, 10))
        assert sweep(BIRTHDAY + 8 * HOUR) == []
        assert sweep(BIRTHDAY + 8 * HOUR + 30 * MINUTE) == []
        assert scans["birthday"] == 1
        assert sweep(BIRTHDAY + 9 * HOUR) == ["sent"]
        assert scans["birthday"] == 2

    def test_the_next_day_opens_the_gate(self, scans):
        greetings_on()
        member(1, birthday=(3, 11))
        assert sweep(BIRTHDAY + 12 * HOUR) == []
        assert sweep(BIRTHDAY + 33 * HOUR) == ["sent"]  # 3/11 09:00

    def test_a_birthday_entered_at_ten_is_greeted_that_day(self, scans):
        greetings_on()
        member(1)
        assert sweep(BIRTHDAY + 9 * HOUR) == []  # nobody's birthday: closed until midnight
        tiers.set_birthday(1, month=3, day=10, staff=True)
        assert sweep(BIRTHDAY + 10 * HOUR) == ["sent"]
        assert mail.outbox[0].to == ["c1@example.com"]

    def test_an_account_opened_on_the_birthday_is_greeted_that_day(self, scans):
        greetings_on()
        tiers.set_birthday(4, month=3, day=10, staff=True)
        assert sweep(BIRTHDAY + 9 * HOUR) == []  # born today, but no account here yet
        with time_machine.travel(BIRTHDAY + 9 * HOUR + 30 * MINUTE, tick=False):
            ledger.account_for(CHANNEL, 4, "c4@example.com")
        assert sweep(BIRTHDAY + 10 * HOUR) == ["sent"]

    def test_an_account_of_someone_not_born_around_today_leaves_the_gate_closed(self, scans):
        # Opening accounts is the order intake's everyday work: only a birthday around
        # today re-opens the gate, so first orders do not all queue on its row.
        greetings_on()
        tiers.set_birthday(4, month=7, day=1, staff=True)
        assert sweep(BIRTHDAY + 9 * HOUR) == []
        assert scans["birthday"] == 1
        generation = ScanGate.objects.get(flow="birthday").generation
        with time_machine.travel(BIRTHDAY + 9 * HOUR + 30 * MINUTE, tick=False):
            ledger.account_for(CHANNEL, 4, "c4@example.com")
            ledger.account_for(CHANNEL, 5, "c5@example.com")  # no birthday on file
        assert ScanGate.objects.get(flow="birthday").generation == generation
        assert sweep(BIRTHDAY + 10 * HOUR) == []
        assert scans["birthday"] == 1

    def test_saving_the_settings_opens_the_gate(self, scans):
        configure(holdout_percent="0")  # greetings off
        member(1, birthday=(3, 10))
        assert sweep(BIRTHDAY + 10 * HOUR) == []
        greetings_on()
        assert sweep(BIRTHDAY + 10 * HOUR + MINUTE) == ["sent"]

    def test_a_scan_that_failed_leaves_the_gate_open(self, scans, monkeypatch):
        greetings_on()
        member(1, birthday=(3, 10))
        real = birthday_greetings.birthday_greetings_due

        def broken(*args, **kwargs):
            raise RuntimeError("database went away")

        monkeypatch.setattr(birthday_greetings, "birthday_greetings_due", broken)
        assert sweep(BIRTHDAY + 10 * HOUR) == []
        monkeypatch.setattr(birthday_greetings, "birthday_greetings_due", real)
        assert sweep(BIRTHDAY + 10 * HOUR + MINUTE) == ["sent"]

    def test_a_lost_gate_row_only_costs_a_scan(self, scans):
        greetings_on()
        member(1, birthday=(3, 11))
        assert sweep(BIRTHDAY + 10 * HOUR) == []
        ScanGate.objects.all().delete()
        assert sweep(BIRTHDAY + 11 * HOUR) == []
        assert scans["birthday"] == 2


class TestCampaignGate:
    NOW = datetime(2026, 3, 1, tzinfo=UTC)

    def schedule(self):
        return schedule_campaign(
            CHANNEL,
            shop_settings(),
            now=self.NOW,
            name="Spring arrivals",
            segment="high_value",
            send_on=date(2026, 3, 3),
            send_time=time(10, 0),
            template="new_arrivals",
            holdout_percent=Decimal(0),
        )

    def test_without_a_campaign_an_idle_sweep_does_not_scan(self, scans):
        configure(campaigns_enabled="true")
        for minutes in (0, 1, 60, 6000):
            sweep(self.NOW + minutes * MINUTE)
        assert scans["campaign"] == 1

    def test_scheduling_a_campaign_opens_the_gate_until_its_first_moment(self, scans):
        configure(campaigns_enabled="true")
        sweep(self.NOW)
        campaign = self.schedule()
        sweep(self.NOW + MINUTE)  # scans once: sees it scheduled, closes until its moment
        first = datetime(2026, 3, 2, 20, tzinfo=UTC)  # 10:00 in UTC+14
        sweep(first - MINUTE)
        assert scans["campaign"] == 2
        sweep(first)
        assert scans["campaign"] == 3
        campaign.refresh_from_db()
        assert campaign.state == "sending"


class TestMemberDayGate:
    START = datetime(2026, 3, 20, tzinfo=UTC)

    def test_scheduling_a_window_and_its_announcements_open_the_gate(self, scans):
        tiers.seed_default_tiers(CHANNEL)
        configure(member_day_announcements_enabled="true", holdout_percent="0")
        member(1, tier="gold")
        sweep(self.START - 100 * HOUR)
        sweep(self.START - 99 * HOUR)
        assert scans["member_day"] == 1
        schedule_member_day(
            CHANNEL,
            name="Spring double points",
            starts_at=self.START,
            ends_at=self.START + timedelta(days=1),
            multiplier=Decimal(2),
            early_access_hours={"gold": 24},
            announce_hours=48,
        )
        assert sweep(self.START - 98 * HOUR) == []
        assert scans["member_day"] == 2
        assert sweep(self.START - 80 * HOUR) == []  # before gold's announcement: closed
        assert scans["member_day"] == 2
        assert sweep(self.START - 72 * HOUR) == ["sent"]  # gold: 24 + 48 hours ahead

    def test_a_tier_written_opens_the_gate(self, scans):
        tiers.seed_default_tiers(CHANNEL)
        configure(member_day_announcements_enabled="true")
        sweep(self.START)
        [silver] = [tier for tier in tiers.tiers_of_channel(CHANNEL) if tier.code == "silver"]
        tiers.update_tier(silver.pk, name={"en": "Silver+"})
        sweep(self.START + MINUTE)
        assert scans["member_day"] == 2


class TestRepurchaseGates:
    def test_a_period_is_scanned_once_and_a_plan_refresh_opens_it(self, scans, settings):
        settings.RETENTION_REPURCHASE_SCAN_MINUTES = 24 * 60
        configure(
            replenishment_enabled="true",
            winback_enabled="true",
            product_url_template="https://tea.example/p/{product_id}",
        )
        morning = BIRTHDAY + 2 * HOUR
        for hours in (0, 1, 5):
            sweep(morning + hours * HOUR)
        assert (scans["replenishment"], scans["winback"]) == (1, 1)
        scan_gates.inputs_changed(scan_gates.REPURCHASE_PLAN)  # as a refresh that planned
        sweep(morning + 6 * HOUR)
        assert (scans["replenishment"], scans["winback"]) == (2, 2)
        sweep(morning + 23 * HOUR)  # the next period
        assert (scans["replenishment"], scans["winback"]) == (3, 3)

    def test_a_scan_enrols_as_without_gates(self, scans):
        greetings_on()
        member(1, birthday=(3, 10))
        member(2, birthday=(3, 10))
        assert sweep(BIRTHDAY + 9 * HOUR) == ["sent", "sent"]
        assert FlowEnrolment.objects.filter(flow="birthday").count() == 2


def test_a_gate_row_kept_from_before_the_flow_was_gated_learns_its_inputs_first():
    ScanGate.objects.create(flow="birthday", inputs="")  # as an ungated flow's row
    flow = BirthdayFlow()
    ticket = scan_gates.take(flow, BIRTHDAY)
    assert ticket is not None
    scan_gates.inputs_changed(scan_gates.BIRTHDAYS)  # committed while it scans
    scan_gates.record(flow, ticket, BIRTHDAY)
    assert scan_gates.take(flow, BIRTHDAY) is not None  # the change re-opened it
