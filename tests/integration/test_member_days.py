"""Member days: scheduled by staff, refused when bad, applied at the order intake, announced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.graphql.ids import to_global_id
from saleor_retention_plugin.models import CustomerTier, MemberDay, MembershipTier
from saleor_retention_plugin.services import ledger, tiers
from saleor_retention_plugin.services.errors import InvalidInput
from saleor_retention_plugin.services.member_days import (
    announcements_opened,
    member_day_announcements_due,
    member_day_multiplier,
    order_earning_multiplier,
    schedule_member_day,
    update_member_day,
)
from saleor_retention_plugin.services.order_intake import apply_order
from tests.integration.membership_factories import make_order

pytestmark = pytest.mark.django_db

CHANNEL = "main"
START = datetime(2026, 11, 11, tzinfo=UTC)

SCHEDULE = """
mutation Schedule($input: MemberDayInput!) {
  memberDaySchedule(input: $input) {
    memberDay { id name startsAt endsAt multiplier earlyAccessHours announceHours }
    errors { field code message }
  }
}
"""
UPDATE = """
mutation Update($id: ID!, $input: MemberDayInput!) {
  memberDayUpdate(id: $id, input: $input) {
    memberDay { id multiplier endsAt }
    errors { field code message }
  }
}
"""
CANCEL = """
mutation Cancel($id: ID!) {
  memberDayCancel(id: $id) { deletedId errors { field code message } }
}
"""
LIST = "{ memberDays { id name multiplier } }"


def day(start=START, hours=24, multiplier="2", **extra):
    return schedule_member_day(
        CHANNEL,
        name="Singles' Day",
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
        multiplier=Decimal(multiplier),
        **extra,
    )


def schedule_input(start=START, hours=24, **extra):
    return {
        "name": "Double points",
        "startsAt": start.isoformat(),
        "endsAt": (start + timedelta(hours=hours)).isoformat(),
        "multiplier": "2",
        **extra,
    }


# --- scheduling -------------------------------------------------------------------------------


def test_staff_schedule_a_member_day(loyalty_api, staff_token):
    tiers.seed_default_tiers(CHANNEL)
    result = loyalty_api.post(
        SCHEDULE,
        {"input": schedule_input(earlyAccessHours='{"gold": 24, "silver": 12}', announceHours=72)},
        token=staff_token().token,
    ).data["memberDaySchedule"]

    assert result["errors"] == []
    stored = MemberDay.objects.get()
    assert result["memberDay"]["id"] == to_global_id("MemberDay", stored.pk)
    assert (stored.multiplier, stored.early_access_hours, stored.announce_hours) == (
        Decimal(2),
        {"gold": 24, "silver": 12},
        72,
    )
    listed = loyalty_api.post(LIST, token=staff_token().token).data["memberDays"]
    assert [row["name"] for row in listed] == ["Double points"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"endsAt": START.isoformat()}, "endsAt"),  # end = start
        ({"endsAt": (START - timedelta(hours=1)).isoformat()}, "endsAt"),
        ({"multiplier": "0"}, "multiplier"),
        ({"multiplier": "-2"}, "multiplier"),
        ({"multiplier": "1000"}, "multiplier"),
        ({"earlyAccessHours": '{"platinum": 3}'}, "earlyAccessHours"),
        ({"earlyAccessHours": '{"gold": 6, "silver": 12}'}, "earlyAccessHours"),
        ({"earlyAccessHours": "[1, 2]"}, "earlyAccessHours"),
        ({"announceHours": -3}, "announceHours"),
        ({"name": "  "}, "name"),
    ],
)
def test_bad_windows_are_field_errors_and_change_nothing(loyalty_api, staff_token, changes, field):
    tiers.seed_default_tiers(CHANNEL)
    result = loyalty_api.post(
        SCHEDULE, {"input": schedule_input(**changes)}, token=staff_token().token
    ).data["memberDaySchedule"]

    assert result["memberDay"] is None
    assert field in {error["field"] for error in result["errors"]}
    assert not MemberDay.objects.exists()


def test_an_overlapping_window_is_refused_and_changes_nothing(loyalty_api, staff_token):
    existing = day()
    result = loyalty_api.post(
        SCHEDULE,
        {"input": schedule_input(start=START + timedelta(hours=12))},
        token=staff_token().token,
    ).data["memberDaySchedule"]

    assert result["errors"][0]["field"] == "startsAt"
    assert "overlaps" in result["errors"][0]["message"]
    assert list(MemberDay.objects.values_list("pk", flat=True)) == [existing.pk]


def test_windows_may_follow_each_other_and_other_channels_do_not_count():
    day()
    day(start=START + timedelta(hours=24))
    schedule_member_day(
        "other",
        name="Elsewhere",
        starts_at=START,
        ends_at=START + timedelta(hours=5),
        multiplier=Decimal(3),
    )
    assert MemberDay.objects.count() == 3


def test_an_update_that_would_overlap_is_refused_and_changes_nothing(loyalty_api, staff_token):
    first = day()
    second = day(start=START + timedelta(days=2))
    result = loyalty_api.post(
        UPDATE,
        {
            "id": to_global_id("MemberDay", second.pk),
            "input": {"startsAt": (START + timedelta(hours=20)).isoformat()},
        },
        token=staff_token().token,
    ).data["memberDayUpdate"]

    assert result["errors"][0]["field"] == "startsAt"
    second.refresh_from_db()
    assert second.starts_at == START + timedelta(days=2)
    assert first.pk != second.pk


def test_staff_change_and_cancel_a_window(loyalty_api, staff_token):
    window = day()
    global_id = to_global_id("MemberDay", window.pk)
    updated = loyalty_api.post(
        UPDATE, {"id": global_id, "input": {"multiplier": "3"}}, token=staff_token().token
    ).data["memberDayUpdate"]
    assert updated["errors"] == []
    assert Decimal(updated["memberDay"]["multiplier"]) == 3

    cancelled = loyalty_api.post(CANCEL, {"id": global_id}, token=staff_token().token).data[
        "memberDayCancel"
    ]
    assert cancelled == {"deletedId": global_id, "errors": []}
    assert not MemberDay.objects.exists()
    again = loyalty_api.post(CANCEL, {"id": global_id}, token=staff_token().token).data[
        "memberDayCancel"
    ]
    assert again["errors"][0]["code"] == "NOT_FOUND"


def test_customers_cannot_schedule_or_list_member_days(loyalty_api, customer_token):
    token = customer_token().token
    result = loyalty_api.post(SCHEDULE, {"input": schedule_input()}, token=token).data[
        "memberDaySchedule"
    ]
    assert result["errors"][0]["code"] == "PERMISSION_DENIED"
    listed = loyalty_api.post(LIST, token=token)
    assert listed.status == 200
    assert listed.error_messages
    assert not MemberDay.objects.exists()


def test_a_window_of_another_channel_cannot_be_changed(loyalty_api, staff_token):
    elsewhere = schedule_member_day(
        "other", name="x", starts_at=START, ends_at=START + timedelta(hours=1), multiplier=2
    )
    result = loyalty_api.post(
        CANCEL, {"id": to_global_id("MemberDay", elsewhere.pk)}, token=staff_token().token
    ).data["memberDayCancel"]
    assert result["errors"][0]["code"] == "NOT_FOUND"
    assert MemberDay.objects.filter(pk=elsewhere.pk).exists()


def test_the_service_refuses_naive_times_and_unknown_fields():
    with pytest.raises(InvalidInput) as naive:
        schedule_member_day(
            CHANNEL,
            name="x",
            starts_at=datetime(2026, 11, 11),
            ends_at=datetime(2026, 11, 12),
        )
    assert {error.field for error in naive.value.errors} == {"startsAt", "endsAt"}
    window = day()
    with pytest.raises(InvalidInput):
        update_member_day(CHANNEL, window.pk, colour="red")
    assert not MemberDay.objects.exclude(pk=window.pk).exists()


# --- the multiplier at the order intake ---------------------------------------------------


def test_an_order_placed_in_the_window_earns_the_multiplier_in_a_real_intake():
    day(multiplier="2")
    inside = make_order(customer_id=7, amount="100", created_at=START + timedelta(hours=3))
    outside = make_order(customer_id=7, amount="100", created_at=START + timedelta(hours=24))

    assert apply_order(inside, ChannelSettings(), now=START + timedelta(hours=3)).earned == 200
    assert apply_order(outside, ChannelSettings(), now=START + timedelta(hours=25)).earned == 100


def test_the_member_day_multiplies_the_tiers_multiplier():
    ladder = tiers.seed_default_tiers(CHANNEL)
    gold = next(tier for tier in ladder if tier.code == "gold")
    account = ledger.account_for(CHANNEL, 8, None)
    CustomerTier.objects.create(
        account=account, channel_slug=CHANNEL, tier=gold, achieved_at=timezone.now()
    )
    tier_multiplier = tiers.points_multiplier_for_account(account)
    day(multiplier="2")
    order = make_order(customer_id=8, amount="100", created_at=START + timedelta(hours=1))

    outcome = apply_order(order, ChannelSettings(), now=START + timedelta(hours=1))

    assert tier_multiplier > 1
    assert outcome.earned == int(100 * tier_multiplier * 2)


def test_the_intakes_multiplier_is_one_query_and_agrees_with_the_tiers(
    django_assert_num_queries,
):
    ladder = tiers.seed_default_tiers(CHANNEL)
    gold = next(tier for tier in ladder if tier.code == "gold")
    account = ledger.account_for(CHANNEL, 8, None)
    CustomerTier.objects.create(
        account=account, channel_slug=CHANNEL, tier=gold, achieved_at=timezone.now()
    )
    day(multiplier="2.5")
    tier_multiplier = tiers.points_multiplier_for_account(account)
    with django_assert_num_queries(1):
        inside = order_earning_multiplier(account, START)
    with django_assert_num_queries(1):
        outside = order_earning_multiplier(account, START - timedelta(seconds=1))
    assert (inside, outside) == (tier_multiplier * Decimal("2.5"), tier_multiplier)
    plain = ledger.account_for(CHANNEL, 9, None)
    assert order_earning_multiplier(plain, START) == Decimal("2.5")


def test_points_are_counted_by_when_the_order_was_placed_not_when_it_was_paid():
    day(multiplier="3")
    order = make_order(customer_id=9, amount="10", created_at=START + timedelta(hours=23))
    assert apply_order(order, ChannelSettings(), now=START + timedelta(days=3)).earned == 30


def test_the_multiplier_lookup_is_one_query(django_assert_num_queries):
    day(multiplier="2")
    with django_assert_num_queries(1):
        assert member_day_multiplier(CHANNEL, START) == 2
    with django_assert_num_queries(1):
        assert member_day_multiplier(CHANNEL, START - timedelta(seconds=1)) == 1


# --- announcements -------------------------------------------------------------------------------


def test_members_are_told_ahead_higher_tiers_first():
    ladder = {tier.code: tier for tier in tiers.seed_default_tiers(CHANNEL)}
    members = {}
    for customer_id, code in [(1, "gold"), (2, "silver"), (3, "member"), (4, None)]:
        account = ledger.account_for(CHANNEL, customer_id, None)
        if code:
            CustomerTier.objects.create(
                account=account, channel_slug=CHANNEL, tier=ladder[code], achieved_at=START
            )
        members[customer_id] = account
    ledger.account_for(CHANNEL, None, "guest@example.com")  # guests are not told
    window = day(early_access_hours={"gold": 24, "silver": 12}, announce_hours=48)

    def told(now):
        return [(a.customer_id, a.tier_code) for a in member_day_announcements_due(CHANNEL, now)]

    assert told(START - timedelta(hours=73)) == []
    assert told(START - timedelta(hours=72)) == [(1, "gold")]
    assert told(START - timedelta(hours=60)) == [(1, "gold"), (2, "silver")]
    assert told(START - timedelta(hours=48)) == [
        (1, "gold"),
        (2, "silver"),
        (3, "member"),
        (4, ""),
    ]
    # Once a member's access started, they are no longer "to be told".
    assert told(START - timedelta(hours=12)) == [(3, "member"), (4, "")]
    assert told(START) == []
    already = frozenset({(window.pk, members[3].pk)})
    due = member_day_announcements_due(CHANNEL, START - timedelta(hours=1), already_told=already)
    assert [a.customer_id for a in due] == [4]
    assert due[0].access_starts_at == START


def test_the_channels_tiers_are_not_required():
    assert not MembershipTier.objects.exists()
    day()
    assert member_day_announcements_due(CHANNEL, START - timedelta(hours=1)) == []


def test_a_sweep_before_any_announcement_opens_reads_only_the_windows(django_assert_num_queries):
    tiers.seed_default_tiers(CHANNEL)
    window = day(early_access_hours={"gold": 24}, announce_hours=48)

    with django_assert_num_queries(1):  # no tiers read: no tier's announcement can be open
        assert announcements_opened(START - timedelta(hours=72, seconds=1)) == []
    with django_assert_num_queries(2):
        [(channel, signature)] = announcements_opened(START - timedelta(hours=72))
    assert channel == CHANNEL
    assert signature.startswith(f"{window.pk}@")
    assert signature.endswith("=gold")
