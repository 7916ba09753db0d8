"""Birthday greetings: who is due in the morning, the tier's gift, once a year."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.models import (
    BenefitKind,
    BirthdayGreeting,
    CustomerTier,
    LoyaltyAccount,
    PointsEntry,
    TierBenefit,
)
from saleor_retention_plugin.services import ledger, tiers
from saleor_retention_plugin.services.birthday_greetings import (
    BirthdayGift,
    birthday_greeting_still_due,
    birthday_greetings_due,
    record_birthday_greeting,
    tier_birthday_gifts,
)
from saleor_retention_plugin.services.errors import InvalidInput

pytestmark = pytest.mark.django_db

CHANNEL = "main"
SHANGHAI = ChannelSettings.from_configuration(
    {
        "birthday_greetings_enabled": "true",
        "timezone": "Asia/Shanghai",
        "birthday_greeting_hour": "9",
    }
)


@pytest.fixture
def ladder():
    ladder = {tier.code: tier for tier in tiers.seed_default_tiers(CHANNEL)}
    TierBenefit.objects.filter(kind=BenefitKind.BIRTHDAY_GIFT).delete()
    tiers.create_benefit(ladder["silver"].pk, kind=BenefitKind.BIRTHDAY_GIFT, value=100)
    tiers.create_benefit(
        ladder["gold"].pk, kind=BenefitKind.BIRTHDAY_GIFT, value=300, config={"coupon": "15%"}
    )
    return ladder


def member(customer_id, month, day, tier=None, ladder=None):
    tiers.set_birthday(customer_id, month=month, day=day, staff=True)
    account = ledger.account_for(CHANNEL, customer_id, None)
    if tier:
        CustomerTier.objects.create(
            account=account, channel_slug=CHANNEL, tier=ladder[tier], achieved_at=datetime.now(UTC)
        )
    return account


def due_at(moment, settings=SHANGHAI):
    return [
        (d.customer_id, d.tier_code, d.gift)
        for d in birthday_greetings_due(CHANNEL, settings, moment)
    ]


def test_each_tier_gets_its_gift_in_the_shops_morning(ladder):
    member(1, 6, 15, "gold", ladder)
    member(2, 6, 15, "silver", ladder)
    member(3, 6, 15)
    member(4, 6, 16, "gold", ladder)  # tomorrow

    # 09:00 in Shanghai is 01:00 UTC.
    assert due_at(datetime(2026, 6, 15, 0, 59, tzinfo=UTC)) == []
    assert due_at(datetime(2026, 6, 15, 1, 0, tzinfo=UTC)) == [
        (1, "gold", BirthdayGift(300, "15%")),
        (2, "silver", BirthdayGift(100, "")),
        (3, "", BirthdayGift()),
    ]
    # The local day ends at 16:00 UTC: then it is customer 4's birthday, before 09:00.
    assert due_at(datetime(2026, 6, 15, 16, 0, tzinfo=UTC)) == []


def test_nobody_is_greeted_while_greetings_are_off(ladder):
    member(1, 6, 15, "gold", ladder)
    assert due_at(datetime(2026, 6, 15, 3, 0, tzinfo=UTC), ChannelSettings()) == []


def test_born_on_29_february_is_greeted_on_28_february_of_common_years():
    member(1, 2, 29)
    member(2, 2, 28)
    assert [c for c, _, _ in due_at(datetime(2027, 2, 28, 2, tzinfo=UTC))] == [1, 2]
    assert [c for c, _, _ in due_at(datetime(2028, 2, 28, 2, tzinfo=UTC))] == [2]
    assert [c for c, _, _ in due_at(datetime(2028, 2, 29, 2, tzinfo=UTC))] == [1]


def test_a_greeting_with_its_gift_is_recorded_once_a_year(ladder):
    account = member(1, 6, 15, "gold", ladder)
    now = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)
    (due,) = birthday_greetings_due(CHANNEL, SHANGHAI, now)

    assert record_birthday_greeting(CHANNEL, due, SHANGHAI, now=now) is True
    assert record_birthday_greeting(CHANNEL, due, SHANGHAI, now=now) is False
    assert birthday_greetings_due(CHANNEL, SHANGHAI, now) == []
    assert not birthday_greeting_still_due(CHANNEL, 1, 2026)

    account.refresh_from_db()
    assert account.balance == 300
    greeting = BirthdayGreeting.objects.get()
    assert (greeting.year, greeting.tier_code, greeting.gift_points, greeting.gift_coupon) == (
        2026,
        "gold",
        300,
        "15%",
    )
    # The next year is another greeting.
    next_year = datetime(2027, 6, 15, 2, 0, tzinfo=UTC)
    assert [d.year for d in birthday_greetings_due(CHANNEL, SHANGHAI, next_year)] == [2027]


def test_the_daily_gift_run_and_the_greeting_never_both_give_points(ladder):
    account = member(1, 6, 15, "silver", ladder)
    now = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)
    assert tiers.grant_birthday_gifts(CHANNEL, SHANGHAI, now=now) == 1
    (due,) = birthday_greetings_due(CHANNEL, SHANGHAI, now)

    assert record_birthday_greeting(CHANNEL, due, SHANGHAI, now=now) is True

    account.refresh_from_db()
    assert account.balance == 100
    assert PointsEntry.objects.filter(account=account).count() == 1


def test_a_greeting_is_no_longer_due_once_the_birthday_is_deleted():
    member(1, 6, 15)
    assert birthday_greeting_still_due(CHANNEL, 1, 2026)
    tiers.anonymise_membership(1)
    assert not birthday_greeting_still_due(CHANNEL, 1, 2026)


def test_an_unreadable_coupon_in_a_gift_gives_points_only(ladder):
    benefit = TierBenefit.objects.get(tier=ladder["gold"], kind=BenefitKind.BIRTHDAY_GIFT)
    benefit.config = {"coupon": "lots"}
    benefit.save()
    assert tier_birthday_gifts(CHANNEL)["gold"] == BirthdayGift(300, "")


def test_guests_and_merged_accounts_are_not_greeted():
    member(1, 6, 15)
    LoyaltyAccount.objects.filter(customer_id=1).update(
        merged_into=ledger.account_for(CHANNEL, None, "x@example.com")
    )
    assert due_at(datetime(2026, 6, 15, 2, tzinfo=UTC)) == []


def test_a_tier_may_give_a_coupon_only(ladder):
    TierBenefit.objects.filter(tier=ladder["silver"]).delete()
    tiers.create_benefit(
        ladder["silver"].pk, kind=BenefitKind.BIRTHDAY_GIFT, config={"coupon": " 5 "}
    )
    account = member(2, 6, 15, "silver", ladder)
    now = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)
    (due,) = birthday_greetings_due(CHANNEL, SHANGHAI, now)

    assert due.gift == BirthdayGift(0, "5")
    assert record_birthday_greeting(CHANNEL, due, SHANGHAI, now=now) is True
    account.refresh_from_db()
    assert account.balance == 0
    assert BirthdayGreeting.objects.get().gift_coupon == "5"


@pytest.mark.parametrize(
    ("value", "config", "field"),
    [
        (None, {}, "value"),  # neither points nor a coupon
        (None, {"coupon": "0%"}, "config"),
        (None, {"coupon": "150%"}, "config"),
        (100, {"coupon": "lots"}, "config"),
        ("2.5", {}, "value"),
    ],
)
def test_a_gift_that_cannot_be_given_is_refused(ladder, value, config, field):
    before = list(TierBenefit.objects.values_list("pk", flat=True))
    with pytest.raises(InvalidInput) as refused:
        tiers.create_benefit(
            ladder["member"].pk, kind=BenefitKind.BIRTHDAY_GIFT, value=value, config=config
        )
    assert field in {error.field for error in refused.value.errors}
    assert list(TierBenefit.objects.values_list("pk", flat=True)) == before


def test_finding_who_is_due_costs_the_same_for_one_or_many(ladder, django_assert_num_queries):
    now = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)
    member(1, 6, 15, "gold", ladder)
    with django_assert_num_queries(2):
        assert len(birthday_greetings_due(CHANNEL, SHANGHAI, now)) == 1
    for customer_id in range(2, 40):
        member(customer_id, 6, 15 if customer_id % 2 else 16, "silver", ladder)
    with django_assert_num_queries(2):
        assert len(birthday_greetings_due(CHANNEL, SHANGHAI, now)) == 20
