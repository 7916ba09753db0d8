"""Membership tiers against PostgreSQL: upgrades, graceful downgrades, history, CRUD."""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from saleor_retention_plugin.conf import ChannelSettings, MembershipSettings, TierBasis
from saleor_retention_plugin.models import (
    CustomerProfile,
    CustomerTier,
    MembershipTier,
    PointsEntry,
    QualifyingOrder,
    TierBenefit,
    TierChange,
)
from saleor_retention_plugin.services import ledger, privacy, tiers
from saleor_retention_plugin.services.errors import InvalidInput
from saleor_retention_plugin.tasks import reevaluate_tiers_task, sync_order_points_task
from tests.integration.membership_factories import (
    CHANNEL,
    make_order,
    place_order,
)
from tests.unit.test_tiers import present

pytestmark = pytest.mark.django_db

MEMBERSHIP = MembershipSettings()
GRACE = MEMBERSHIP.tier_downgrade_grace_days


def tier_code(account_id: int) -> str | None:
    row = CustomerTier.objects.filter(account_id=account_id).select_related("tier").first()
    return row.tier.code if row else None


def history(account_id: int) -> list[tuple[str, str, str]]:
    return list(
        TierChange.objects.filter(account_id=account_id)
        .order_by("changed_at", "id")
        .values_list("from_code", "to_code", "reason")
    )


class TestUpgrades:
    def test_a_first_order_seeds_the_default_tiers_and_joins_member(self):
        outcome, change = place_order(make_order(amount="120"))
        assert [t.code for t in tiers.tiers_of_channel(CHANNEL)] == ["member", "silver", "gold"]
        assert tier_code(outcome.account_id) == "member"
        assert history(outcome.account_id) == [("", "member", "joined")]
        assert change.to_code == "member"

    def test_the_order_that_crosses_a_threshold_upgrades_at_once(self):
        outcome, _ = place_order(make_order(amount="400"))
        _, change = place_order(make_order(amount="700"))
        assert tier_code(outcome.account_id) == "silver"
        assert change.reason == "qualifying_order"
        assert change.qualifying_value == Decimal(1100)
        assert change.details["order_number"]
        assert history(outcome.account_id)[-1] == ("member", "silver", "qualifying_order")

    def test_one_big_order_can_jump_straight_to_gold(self):
        outcome, _ = place_order(make_order(amount="6000"))
        assert tier_code(outcome.account_id) == "gold"

    def test_the_tier_multiplier_applies_to_later_earnings(self):
        first, _ = place_order(make_order(amount="1000"))  # earned at 1x, lifts to Silver (1.2x)
        second, _ = place_order(make_order(amount="100"))
        assert (first.earned, second.earned) == (1000, 120)
        entry = PointsEntry.objects.get(account_id=second.account_id, points=120)
        assert Decimal(entry.details["multiplier"]) == Decimal("1.2")

    def test_the_same_order_event_twice_counts_once(self):
        order = make_order(amount="1500")
        outcome, _ = place_order(order)
        place_order(order)
        assert QualifyingOrder.objects.filter(account_id=outcome.account_id).count() == 1
        assert history(outcome.account_id) == [("", "silver", "joined")]

    def test_an_unpaid_order_counts_for_nothing_yet(self):
        order = make_order(amount="5000", paid=False)
        _, change = place_order(order)
        assert change is None
        assert not QualifyingOrder.objects.exists()

    def test_amount_spent_tiers_count_money(self):
        settings = ChannelSettings(membership=MembershipSettings(tier_basis=TierBasis.AMOUNT_SPENT))
        tiers.seed_default_tiers(CHANNEL, settings.membership)
        # 0 points per unit: no points at all, yet the spending still counts.
        from saleor_retention_plugin.conf import LedgerSettings

        no_points = ChannelSettings(
            ledger=LedgerSettings(points_per_currency_unit=Decimal(0)),
            membership=settings.membership,
        )
        outcome, _ = place_order(make_order(amount="1000.00"), no_points)
        account = ledger.account_for(CHANNEL, 1, None)
        assert account.balance == 0
        assert tier_code(account.pk) == "silver"
        assert outcome.earned == 0

    def test_the_celery_task_books_points_and_upgrades(self):
        order = make_order(amount="1200")
        result = sync_order_points_task.delay(
            order.to_json(), ChannelSettings().as_configuration()
        ).get()
        assert result["earned"] == 1200
        account = ledger.account_for(CHANNEL, 1, None)
        assert tier_code(account.pk) == "silver"


class TestDowngrades:
    def test_spending_every_point_never_costs_the_tier(self):
        outcome, _ = place_order(make_order(amount="1500"))
        ledger.spend_points(outcome.account_id, 1500, idempotency_key="spend-all")
        tiers.evaluate_account(outcome.account_id, settings=MEMBERSHIP)
        membership = CustomerTier.objects.get(account_id=outcome.account_id)
        assert membership.tier.code == "silver"
        assert membership.downgrade_due_at is None

    def test_a_refund_lowers_the_tier_only_after_the_grace_period(self):
        order = make_order(amount="6000")
        outcome, _ = place_order(order)
        refunded = make_order(amount="6000", refunded="6000", order_id=order.order_id)
        place_order(refunded)
        assert tier_code(outcome.account_id) == "gold"  # an order never downgrades

        now = timezone.now()
        tiers.evaluate_account(outcome.account_id, settings=MEMBERSHIP, now=now)
        membership = CustomerTier.objects.get(account_id=outcome.account_id)
        assert membership.tier.code == "gold"
        assert membership.downgrade_due_at == now + timedelta(days=GRACE)

        later = now + timedelta(days=GRACE - 1)
        tiers.evaluate_account(outcome.account_id, settings=MEMBERSHIP, now=later)
        assert tier_code(outcome.account_id) == "gold"

        after_grace = now + timedelta(days=GRACE, seconds=1)
        change = present(
            tiers.evaluate_account(outcome.account_id, settings=MEMBERSHIP, now=after_grace)
        )
        assert (change.from_code, change.to_code, change.reason) == (
            "gold",
            "member",
            "reevaluation",
        )
        assert CustomerTier.objects.get(account_id=outcome.account_id).downgrade_due_at is None

    def test_qualifying_again_during_grace_cancels_the_downgrade(self):
        now = timezone.now()
        old = make_order(amount="1200", created_at=now - timedelta(days=360))
        outcome, _ = place_order(old, now=now - timedelta(days=360))
        later = now + timedelta(days=10)  # the old order left the 12-month window
        tiers.evaluate_account(outcome.account_id, settings=MEMBERSHIP, now=later)
        assert CustomerTier.objects.get(account_id=outcome.account_id).downgrade_due_at is not None

        place_order(make_order(amount="1100", created_at=later), now=later)
        tiers.evaluate_account(
            outcome.account_id, settings=MEMBERSHIP, now=later + timedelta(days=1)
        )
        membership = CustomerTier.objects.get(account_id=outcome.account_id)
        assert membership.tier.code == "silver"
        assert membership.downgrade_due_at is None

    def test_orders_older_than_the_window_stop_counting(self):
        now = timezone.now()
        outcome, _ = place_order(
            make_order(amount="1200", created_at=now - timedelta(days=400)),
            now=now - timedelta(days=400),
        )
        assert tier_code(outcome.account_id) == "silver"
        settings = MembershipSettings(tier_downgrade_grace_days=0)
        tiers.evaluate_account(outcome.account_id, settings=settings, now=now)
        assert tier_code(outcome.account_id) == "member"

    def test_lifetime_tiers_keep_old_orders(self):
        tiers.seed_default_tiers(CHANNEL, MembershipSettings(tier_window_months=0))
        now = timezone.now()
        outcome, _ = place_order(
            make_order(amount="1200", created_at=now - timedelta(days=3000)),
            now=now - timedelta(days=3000),
        )
        tiers.evaluate_account(
            outcome.account_id, settings=MembershipSettings(tier_downgrade_grace_days=0), now=now
        )
        assert tier_code(outcome.account_id) == "silver"

    def test_the_daily_task_reevaluates_every_channel(self):
        now = timezone.now()
        accounts = []
        for customer in (1, 2, 3):
            outcome, _ = place_order(
                make_order(
                    customer_id=customer, amount="1200", created_at=now - timedelta(days=400)
                ),
                now=now - timedelta(days=400),
            )
            accounts.append(outcome.account_id)
        reports = reevaluate_tiers_task.delay().get()
        assert reports[CHANNEL]["evaluated"] == 3
        assert reports[CHANNEL]["grace_started"] == 3
        assert all(tier_code(a) == "silver" for a in accounts)

    def test_reevaluation_leaves_anonymised_accounts_alone(self):
        now = timezone.now()
        kept, _ = place_order(
            make_order(customer_id=1, amount="1200", created_at=now - timedelta(days=400)),
            now=now - timedelta(days=400),
        )
        forgotten, _ = place_order(
            make_order(customer_id=2, amount="1200", created_at=now - timedelta(days=400)),
            now=now - timedelta(days=400),
        )
        privacy.anonymise_customer_everywhere(2, "customer2@example.com")
        changes_before = TierChange.objects.filter(account_id=forgotten.account_id).count()

        report = tiers.reevaluate_channel(CHANNEL, settings=MembershipSettings(), now=now)

        assert report.evaluated == 1
        assert CustomerTier.objects.get(account_id=kept.account_id).downgrade_due_at is not None
        assert CustomerTier.objects.get(account_id=forgotten.account_id).downgrade_due_at is None
        assert TierChange.objects.filter(account_id=forgotten.account_id).count() == changes_before


class TestThresholdChanges:
    def test_lowering_a_threshold_upgrades_everyone_who_now_qualifies(
        self, django_capture_on_commit_callbacks
    ):
        qualifying, _ = place_order(make_order(customer_id=1, amount="600"))
        not_qualifying, _ = place_order(make_order(customer_id=2, amount="300"))
        silver = MembershipTier.objects.get(channel_slug=CHANNEL, code="silver")
        with django_capture_on_commit_callbacks(execute=True):
            tiers.update_tier(silver.pk, threshold_value=500)
        assert tier_code(qualifying.account_id) == "silver"
        assert tier_code(not_qualifying.account_id) == "member"
        assert history(qualifying.account_id)[-1] == ("member", "silver", "thresholds_changed")

    def test_raising_a_threshold_keeps_members_through_the_grace_period(
        self, django_capture_on_commit_callbacks
    ):
        outcome, _ = place_order(make_order(amount="1200"))
        silver = MembershipTier.objects.get(channel_slug=CHANNEL, code="silver")
        with django_capture_on_commit_callbacks(execute=True):
            tiers.update_tier(silver.pk, threshold_value=2000)
        membership = CustomerTier.objects.get(account_id=outcome.account_id)
        assert membership.tier.code == "silver"
        assert membership.downgrade_due_at is not None

    def test_renaming_does_not_reevaluate(self, django_capture_on_commit_callbacks):
        place_order(make_order(amount="10"))
        silver = MembershipTier.objects.get(channel_slug=CHANNEL, code="silver")
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            tiers.update_tier(silver.pk, name={"en": "Silver+", "zh-Hans": "白银会员+"})
        assert callbacks == []


class TestTierAdministration:
    @pytest.fixture
    def ladder(self):
        return tiers.seed_default_tiers(CHANNEL)

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"code": "Gold Plus!"}, "code"),
            ({"rank": -1}, "rank"),
            ({"rank": "3"}, "rank"),
            ({"name": {}}, "name"),
            ({"name": {"en": 5}}, "name"),
            ({"name": {"not a language": "x"}}, "name"),
            ({"threshold_value": "-5"}, "threshold_value"),
            ({"threshold_value": "abc"}, "threshold_value"),
            ({"threshold_value": "NaN"}, "threshold_value"),
            ({"threshold_value": "1e30"}, "threshold_value"),
            ({"threshold_value": "10.555"}, "threshold_value"),
            ({"threshold_value": "10.5"}, "threshold_value"),  # points are whole
            ({"threshold_value": True}, "threshold_value"),
            ({"threshold_kind": "visits"}, "threshold_kind"),
            ({"window_months": 121}, "window_months"),
            ({"rank": 2}, "rank"),  # gold has it
            ({"code": "gold"}, "code"),
            ({"balance": 5}, "balance"),
        ],
    )
    def test_bad_tier_changes_are_refused_and_change_nothing(self, ladder, changes, field):
        silver = next(t for t in ladder if t.code == "silver")
        before = MembershipTier.objects.filter(pk=silver.pk).values().get()
        with pytest.raises(InvalidInput) as error:
            tiers.update_tier(silver.pk, **changes)
        assert field in {e.field for e in error.value.errors}
        assert MembershipTier.objects.filter(pk=silver.pk).values().get() == before

    def test_a_silver_threshold_above_gold_is_refused(self, ladder):
        silver = next(t for t in ladder if t.code == "silver")
        with pytest.raises(InvalidInput, match="more than the tier below"):
            tiers.update_tier(silver.pk, threshold_value=6000)

    def test_a_new_tier_on_top(self, ladder):
        platinum = tiers.create_tier(
            CHANNEL,
            code="platinum",
            rank=3,
            name={"en": "Platinum", "zh-Hans": "铂金会员"},
            threshold_value="20000",
        )
        assert platinum.threshold_kind == "points_earned"
        assert platinum.window_months == 12
        assert [t.code for t in tiers.tiers_of_channel(CHANNEL)][-1] == "platinum"

    def test_deleting_a_tier_moves_its_members_down(self, ladder):
        outcome, _ = place_order(make_order(amount="6000"))
        gold = next(t for t in ladder if t.code == "gold")
        tiers.delete_tier(gold.pk)
        assert tier_code(outcome.account_id) == "silver"
        assert history(outcome.account_id)[-1] == ("gold", "silver", "tier_deleted")
        # The history keeps the deleted tier's code.
        assert TierChange.objects.filter(from_code="gold", from_tier__isnull=True).exists()

    def test_the_entry_tier_cannot_go_while_the_next_needs_points(self, ladder):
        member = next(t for t in ladder if t.code == "member")
        with pytest.raises(InvalidInput, match="without a tier"):
            tiers.delete_tier(member.pk)
        assert MembershipTier.objects.filter(pk=member.pk).exists()

    def test_the_last_tier_stays(self):
        only = tiers.create_tier(CHANNEL, code="member", rank=0, name="Member", threshold_value=0)
        with pytest.raises(InvalidInput, match="at least one tier"):
            tiers.delete_tier(only.pk)

    def test_seeding_twice_changes_nothing(self, ladder):
        again = tiers.seed_default_tiers(CHANNEL)
        assert [t.pk for t in again] == [t.pk for t in ladder]
        assert TierBenefit.objects.count() == 9

    @pytest.mark.parametrize(
        ("kind", "value", "field"),
        [
            ("percentage_discount", "150", "value"),
            ("percentage_discount", "-1", "value"),
            ("points_multiplier", "0", "value"),
            ("points_multiplier", "ten", "value"),
            ("birthday_gift", "12.5", "value"),
            ("member_only_products", None, "config"),
            ("teleportation", None, "kind"),
        ],
    )
    def test_bad_benefits_are_refused(self, ladder, kind, value, field):
        count = TierBenefit.objects.count()
        with pytest.raises(InvalidInput) as error:
            tiers.create_benefit(ladder[1].pk, kind=kind, value=value)
        assert field in {e.field for e in error.value.errors}
        assert TierBenefit.objects.count() == count

    def test_a_custom_benefit_with_its_text(self, ladder):
        benefit = tiers.create_benefit(
            ladder[2].pk,
            kind="custom",
            title={"en": "Monthly member day", "zh-Hans": "每月会员日"},
        )
        updated = tiers.update_benefit(benefit.pk, is_active=False)
        assert not updated.is_active
        tiers.delete_benefit(benefit.pk)
        assert not TierBenefit.objects.filter(pk=benefit.pk).exists()


class TestMembershipSummary:
    def test_progress_to_the_next_tier(self):
        place_order(make_order(amount="1500"))
        summary = tiers.membership_of(ledger.account_for(CHANNEL, 1, None))
        assert present(summary.tier).code == "silver"
        assert {b.kind for b in summary.benefits} == {
            "points_multiplier",
            "birthday_gift",
            "early_access",
        }
        next_tier = present(summary.next_tier)
        assert next_tier.tier.code == "gold"
        assert next_tier.remaining == Decimal(3500)
        assert next_tier.ratio == Decimal("0.3")

    def test_an_account_never_evaluated_shows_the_tier_it_qualifies_for(self):
        tiers.seed_default_tiers(CHANNEL)
        account = ledger.account_for(CHANNEL, 5, None)
        summary = tiers.membership_of(account)
        assert present(summary.tier).code == "member"
        assert summary.achieved_at is None

    @pytest.mark.parametrize("orders", [1, 60])
    def test_reading_membership_costs_the_same_queries_whatever_the_history(
        self, orders, django_assert_num_queries
    ):
        for _ in range(orders):
            place_order(make_order(amount="10"))
        account = ledger.account_for(CHANNEL, 1, None)
        with django_assert_num_queries(4):
            summary = tiers.membership_of(account)
            list(summary.benefits)


class TestBirthday:
    def test_a_customer_records_their_birthday(self):
        profile = tiers.set_birthday(42, month=2, day=29)
        assert (profile.birth_month, profile.birth_day, profile.birth_year) == (2, 29, None)

    @pytest.mark.parametrize(
        ("month", "day", "year", "field"),
        [
            (13, 1, None, "month"),
            (0, 1, None, "month"),
            (2, 30, None, "day"),
            (2, 29, 2023, "day"),
            (4, 31, None, "day"),
            ("5", 1, None, "month"),
            (5, 1.5, None, "day"),
            (5, 1, 1800, "year"),
            (5, 1, 3000, "year"),
        ],
    )
    def test_impossible_birthdays_are_refused(self, month, day, year, field):
        with pytest.raises(InvalidInput) as error:
            tiers.set_birthday(42, month=month, day=day, year=year)
        assert field in {e.field for e in error.value.errors}
        chinese = next(e for e in error.value.errors if e.field == field).message_for("zh-Hans")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese)
        assert not CustomerProfile.objects.exists()

    def test_a_customer_changes_the_birthday_at_most_once_a_year(self):
        now = timezone.now()
        tiers.set_birthday(42, month=5, day=1, now=now)
        tiers.set_birthday(42, month=5, day=1, now=now)  # the same again is fine
        with pytest.raises(tiers.BirthdayLocked) as locked:
            tiers.set_birthday(42, month=6, day=1, now=now + timedelta(days=30))
        assert "once a year" in locked.value.message_for("en")
        assert "每年只能修改一次" in locked.value.message_for("zh")
        assert present(tiers.birthday_of(42)).birth_month == 5
        tiers.set_birthday(42, month=6, day=1, now=now + timedelta(days=30), staff=True)
        assert present(tiers.birthday_of(42)).birth_month == 6

    def test_forgetting_a_customer_deletes_the_birthday(self):
        tiers.set_birthday(42, month=5, day=1)
        privacy.anonymise_customer_everywhere(42, "x@example.com")
        assert tiers.birthday_of(42) is None


class TestBirthdayGifts:
    def test_a_silver_member_gets_the_birthday_points_once_a_year(self):
        from datetime import datetime

        from saleor_retention_plugin.tasks import grant_birthday_gifts_task

        outcome, _ = place_order(make_order(customer_id=7, amount="1200"))  # silver: 100 points
        place_order(make_order(customer_id=8, amount="50"))  # member: no birthday gift
        tiers.set_birthday(7, month=5, day=1)
        tiers.set_birthday(8, month=5, day=1)
        birthday = datetime(2027, 5, 1, 9, tzinfo=UTC)
        settings = ChannelSettings()
        assert tiers.grant_birthday_gifts(CHANNEL, settings, now=birthday) == 1
        assert tiers.grant_birthday_gifts(CHANNEL, settings, now=birthday) == 0
        gift = PointsEntry.objects.get(account_id=outcome.account_id, actor="system:birthday-gift")
        assert gift.points == 100
        assert "生日快乐" in gift.reason
        assert grant_birthday_gifts_task.delay().get() == {CHANNEL: 0}
        next_year = datetime(2028, 5, 1, 9, tzinfo=UTC)
        assert tiers.grant_birthday_gifts(CHANNEL, settings, now=next_year) == 1

    def test_the_day_before_gives_nothing(self):
        from datetime import datetime

        place_order(make_order(customer_id=7, amount="1200"))
        tiers.set_birthday(7, month=5, day=1)
        eve = datetime(2027, 4, 30, 9, tzinfo=UTC)
        assert tiers.grant_birthday_gifts(CHANNEL, ChannelSettings(), now=eve) == 0

    def test_leap_day_birthdays_are_celebrated_on_28_february(self):
        from datetime import datetime

        place_order(make_order(customer_id=7, amount="1200"))
        tiers.set_birthday(7, month=2, day=29)
        settings = ChannelSettings()
        assert (
            tiers.grant_birthday_gifts(CHANNEL, settings, now=datetime(2027, 2, 28, tzinfo=UTC))
            == 1
        )

    def test_the_birthday_starts_in_the_shops_timezone(self):
        from datetime import datetime

        from saleor_retention_plugin.conf import LedgerSettings

        place_order(make_order(customer_id=7, amount="1200"))
        tiers.set_birthday(7, month=5, day=1)
        shanghai = ChannelSettings(ledger=LedgerSettings(timezone="Asia/Shanghai"))
        # 17:00 UTC on 30 April is already 01:00 on 1 May in Shanghai.
        late_utc = datetime(2027, 4, 30, 17, tzinfo=UTC)
        assert tiers.grant_birthday_gifts(CHANNEL, ChannelSettings(), now=late_utc) == 0
        assert tiers.grant_birthday_gifts(CHANNEL, shanghai, now=late_utc) == 1


class TestGuests:
    def test_a_guests_orders_count_for_the_customer_after_registering(self):
        order = make_order(customer_id=None, email="Guest@Example.com", amount="1200")
        guest, _ = place_order(order)
        assert tier_code(guest.account_id) == "silver"

        ledger.merge_guest_accounts(9, "guest@example.com")
        customer = ledger.account_for(CHANNEL, 9, None)
        assert present(tiers.membership_of(customer).next_tier).current_value == Decimal(
            5000 - 3800
        )
        tiers.evaluate_account(customer.pk, settings=MEMBERSHIP)
        assert tier_code(customer.pk) == "silver"

        # A later refund of the guest order updates the same record, now the customer's.
        place_order(
            make_order(
                customer_id=None,
                email="guest@example.com",
                amount="1200",
                refunded="1200",
                order_id=order.order_id,
            )
        )
        record = QualifyingOrder.objects.get(order_id=order.order_id)
        assert record.account_id == customer.pk
        assert record.points_earned == 0


def test_a_tier_change_is_announced_after_commit(django_capture_on_commit_callbacks):
    from saleor_retention_plugin.signals import tier_changed

    heard = []

    def receiver(sender, **kwargs):
        heard.append(kwargs)

    tier_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            outcome, change = place_order(make_order(customer_id=3, amount="1200"))
        assert heard == []  # nothing is said before the commit
        for callback in callbacks:
            callback()
    finally:
        tier_changed.disconnect(receiver)
    assert heard == [
        {
            "signal": tier_changed,
            "account_id": outcome.account_id,
            "channel_slug": CHANNEL,
            "customer_id": 3,
            "change_id": change.pk,
            "from_tier": "",
            "to_tier": "silver",
            "reason": "joined",
        }
    ]


class TestDailyReevaluationFollowsWhatChanged:
    """Issue 12: the daily run visits only accounts time can change, found by an index."""

    def test_accounts_nothing_happened_to_are_not_visited(self):
        now = timezone.now()
        for customer_id in range(1, 6):
            place_order(make_order(customer_id=customer_id, amount="1500"), now=now)

        report = tiers.reevaluate_channel(CHANNEL, settings=MEMBERSHIP, now=now + timedelta(days=1))

        assert report.evaluated == 0

    def test_an_order_leaving_the_window_brings_its_account_back(self):
        now = timezone.now()
        old = make_order(customer_id=1, amount="1500", created_at=now)
        outcome, _ = place_order(old, now=now)
        place_order(make_order(customer_id=2, amount="1500", created_at=now + timedelta(days=40)))
        a_year_later = now + timedelta(days=370)

        report = tiers.reevaluate_channel(CHANNEL, settings=MEMBERSHIP, now=a_year_later)

        assert report.evaluated == 1
        assert report.grace_started == 1
        membership = CustomerTier.objects.get(account_id=outcome.account_id)
        assert membership.next_reevaluation_at == membership.downgrade_due_at

    def test_a_cancelled_order_brings_its_account_back_the_next_day(self):
        now = timezone.now()
        order = make_order(amount="1500", created_at=now)
        place_order(order, now=now)
        place_order(make_order(amount="1500", status="canceled", order_id=order.order_id), now=now)

        report = tiers.reevaluate_channel(CHANNEL, settings=MEMBERSHIP, now=now + timedelta(days=1))

        assert (report.evaluated, report.grace_started) == (1, 1)

    def test_an_account_opened_without_an_order_joins_the_entry_tier(self):
        """The daily run grades an account no order graded, once.

        An adjustment or a birthday opens such an account; it joins the entry tier.
        """
        now = timezone.now()
        tiers.seed_default_tiers(CHANNEL, MEMBERSHIP)
        account = ledger.account_for(CHANNEL, 42, "newcomer@example.com")

        first = tiers.reevaluate_channel(CHANNEL, settings=MEMBERSHIP, now=now)
        second = tiers.reevaluate_channel(CHANNEL, settings=MEMBERSHIP, now=now)

        assert (first.evaluated, first.upgraded) == (1, 1)
        assert CustomerTier.objects.get(account=account).tier.code == "member"
        assert second.evaluated == 0

    def test_a_threshold_change_still_visits_everyone(self):
        now = timezone.now()
        for customer_id in range(1, 4):
            place_order(make_order(customer_id=customer_id, amount="100"), now=now)

        report = tiers.reevaluate_channel(
            CHANNEL, settings=MEMBERSHIP, reason=TierChange.Reason.THRESHOLDS_CHANGED, now=now
        )

        assert report.evaluated == 3
