"""Tiers, benefits and birthdays over the loyalty API."""

from __future__ import annotations

import pytest

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.graphql.ids import to_global_id
from saleor_retention_plugin.models import CustomerProfile, MembershipTier, TierBenefit
from saleor_retention_plugin.services import tiers
from tests.integration.membership_factories import make_order, place_order

pytestmark = pytest.mark.django_db

TIERS = """
query Tiers($lang: String) {
  membershipTiers {
    id code rank name(languageCode: $lang) thresholdKind thresholdValue windowMonths
    benefits { kind value title(languageCode: $lang) }
  }
}
"""

MY_TIER = """
{
  myLoyaltyAccount {
    balance lifetimePoints
    tier { code name }
    tierAchievedAt
    nextTier { tier { code } currentValue remaining ratio }
    benefits { kind value }
    birthday { month day year }
  }
}
"""


@pytest.fixture
def default_tiers():
    return tiers.seed_default_tiers("main")


def test_anyone_lists_the_channels_tiers_with_benefits_in_their_language(
    loyalty_api, default_tiers
):
    data = loyalty_api.post(TIERS, {"lang": "zh-Hans"}).data

    listed = data["membershipTiers"]
    assert [(t["code"], t["rank"], t["name"]) for t in listed] == [
        ("member", 0, "普通会员"),
        ("silver", 1, "白银会员"),
        ("gold", 2, "黄金会员"),
    ]
    gold = listed[2]
    assert gold["thresholdKind"] == "POINTS_EARNED"
    assert gold["thresholdValue"] == "5000.00"
    assert ("PERCENTAGE_DISCOUNT", "5.00", "会员 95 折") in [
        (b["kind"], b["value"], b["title"]) for b in gold["benefits"]
    ]


def test_accept_language_picks_the_language_when_none_is_asked(loyalty_api, default_tiers):
    data = loyalty_api.post(
        "{ membershipTiers { name } }", headers={"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
    ).data

    assert [t["name"] for t in data["membershipTiers"]] == ["普通会员", "白银会员", "黄金会员"]


def test_tiers_are_per_channel(loyalty_api, default_tiers):
    assert loyalty_api.post(TIERS, channel="cn-store").data == {"membershipTiers": []}


def test_my_account_shows_tier_benefits_and_progress(loyalty_api, customer_token, default_tiers):
    me = customer_token(user_id=1)
    place_order(make_order(customer_id=1, amount="1500"), ChannelSettings())

    data = loyalty_api.post(MY_TIER, token=me.token).data["myLoyaltyAccount"]

    assert data["tier"] == {"code": "silver", "name": "Silver"}
    assert data["tierAchievedAt"] is not None
    assert data["nextTier"]["tier"] == {"code": "gold"}
    assert data["nextTier"]["currentValue"] == "1500"
    assert data["nextTier"]["remaining"] == "3500.00"
    assert data["nextTier"]["ratio"] == pytest.approx(0.3)
    assert {b["kind"] for b in data["benefits"]} == {
        "POINTS_MULTIPLIER",
        "BIRTHDAY_GIFT",
        "EARLY_ACCESS",
    }


TIER_HISTORY = """
query TierHistory($first: Int, $after: String) {
  myLoyaltyAccount {
    tierHistory(first: $first, after: $after) {
      edges { node { fromCode toCode fromTier { name } toTier { name benefits { kind } } reason } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


def test_a_member_reads_their_tier_history_newest_first_page_by_page(
    loyalty_api, customer_token, default_tiers
):
    me = customer_token(user_id=1)
    place_order(make_order(customer_id=1, amount="1500"), ChannelSettings())
    place_order(make_order(customer_id=1, amount="4000"), ChannelSettings())

    first_page = loyalty_api.post(TIER_HISTORY, {"first": 1}, token=me.token).data[
        "myLoyaltyAccount"
    ]["tierHistory"]
    rest = loyalty_api.post(
        TIER_HISTORY, {"first": 10, "after": first_page["pageInfo"]["endCursor"]}, token=me.token
    ).data["myLoyaltyAccount"]["tierHistory"]

    moves = [edge["node"] for edge in first_page["edges"] + rest["edges"]]
    assert [(m["fromCode"], m["toCode"], m["reason"]) for m in moves] == [
        ("silver", "gold", "QUALIFYING_ORDER"),
        (None, "silver", "JOINED"),
    ]
    assert moves[0]["fromTier"] == {"name": "Silver"}
    assert moves[0]["toTier"]["name"] == "Gold"
    assert moves[0]["toTier"]["benefits"]
    assert first_page["pageInfo"]["hasNextPage"] is True
    assert rest["pageInfo"]["hasNextPage"] is False


# --- birthdays -------------------------------------------------------------------------------

SET_BIRTHDAY = """
mutation Birthday($month: Int!, $day: Int!, $year: Int, $userId: ID) {
  birthdaySet(month: $month, day: $day, year: $year, userId: $userId) {
    errors { field code message }
    birthday { month day year }
  }
}
"""


def test_customer_records_their_birthday_and_reads_it_back(loyalty_api, customer_token):
    me = customer_token(user_id=1)

    payload = loyalty_api.post(SET_BIRTHDAY, {"month": 2, "day": 29}, token=me.token).data[
        "birthdaySet"
    ]

    assert payload == {"errors": [], "birthday": {"month": 2, "day": 29, "year": None}}
    assert loyalty_api.post(MY_TIER, token=me.token).data["myLoyaltyAccount"]["birthday"] == {
        "month": 2,
        "day": 29,
        "year": None,
    }


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"month": 13, "day": 1}, "month"),
        ({"month": 2, "day": 30}, "day"),
        ({"month": 1, "day": 1, "year": 1800}, "year"),
    ],
)
def test_impossible_birthdays_are_field_errors(loyalty_api, customer_token, variables, field):
    payload = loyalty_api.post(SET_BIRTHDAY, variables, token=customer_token().token).data[
        "birthdaySet"
    ]

    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, "INVALID")]
    assert not CustomerProfile.objects.exists()


def test_customers_change_their_birthday_once_a_year_staff_any_time(
    loyalty_api, customer_token, staff_token, shop_user
):
    shop_user(1)
    me = customer_token(user_id=1)
    loyalty_api.post(SET_BIRTHDAY, {"month": 5, "day": 1}, token=me.token)

    again = loyalty_api.post(SET_BIRTHDAY, {"month": 6, "day": 1}, token=me.token).data[
        "birthdaySet"
    ]
    # The field is one of the mutation's arguments, so a form can show the error there.
    assert [(e["field"], e["code"]) for e in again["errors"]] == [("month", "BIRTHDAY_LOCKED")]

    by_staff = loyalty_api.post(
        SET_BIRTHDAY,
        {"month": 6, "day": 1, "userId": to_global_id("User", 1)},
        token=staff_token().token,
    ).data["birthdaySet"]
    assert by_staff["errors"] == []
    assert CustomerProfile.objects.get(customer_id=1).birth_month == 6


@pytest.mark.parametrize("token", ["customer", "anonymous"])
def test_only_staff_set_someone_elses_birthday(loyalty_api, customer_token, token):
    caller = customer_token(user_id=1).token if token == "customer" else None

    payload = loyalty_api.post(
        SET_BIRTHDAY, {"month": 6, "day": 1, "userId": to_global_id("User", 2)}, token=caller
    ).data["birthdaySet"]

    assert [e["code"] for e in payload["errors"]] == [
        "PERMISSION_DENIED" if token == "customer" else "UNAUTHENTICATED"
    ]
    assert not CustomerProfile.objects.exists()


def test_staff_cannot_record_a_birthday_for_a_user_the_shop_does_not_have(loyalty_api, staff_token):
    payload = loyalty_api.post(
        SET_BIRTHDAY,
        {"month": 6, "day": 1, "userId": to_global_id("User", 424242)},
        token=staff_token().token,
    ).data["birthdaySet"]

    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("userId", "NOT_FOUND")]
    assert not CustomerProfile.objects.exists()


# --- staff: tiers and benefits ---------------------------------------------------------------

CREATE_TIER = """
mutation Create($input: MembershipTierInput!) {
  membershipTierCreate(input: $input) {
    errors { field code message }
    tier { id code rank name thresholdKind thresholdValue windowMonths }
  }
}
"""
UPDATE_TIER = """
mutation Update($id: ID!, $input: MembershipTierInput!) {
  membershipTierUpdate(id: $id, input: $input) {
    errors { field code message }
    tier { thresholdValue }
  }
}
"""
DELETE_TIER = """
mutation Delete($id: ID!) {
  membershipTierDelete(id: $id) { errors { field code message } deletedId }
}
"""
CREATE_BENEFIT = """
mutation Benefit($tierId: ID!, $input: TierBenefitInput!) {
  tierBenefitCreate(tierId: $tierId, input: $input) {
    errors { field code message } benefit { id kind value title }
  }
}
"""
UPDATE_BENEFIT = """
mutation Benefit($id: ID!, $input: TierBenefitInput!) {
  tierBenefitUpdate(id: $id, input: $input) { errors { field code } benefit { value isActive } }
}
"""
DELETE_BENEFIT = """
mutation Benefit($id: ID!) { tierBenefitDelete(id: $id) { errors { field code } deletedId } }
"""

PLATINUM = {
    "code": "platinum",
    "rank": 3,
    "name": [
        {"languageCode": "en", "text": "Platinum"},
        {"languageCode": "zh-Hans", "text": "铂金会员"},
    ],
    "thresholdKind": "AMOUNT_SPENT",
    "thresholdValue": "20000",
    "windowMonths": 0,
}


def test_staff_create_update_and_delete_a_tier(loyalty_api, staff_token, default_tiers):
    staff = staff_token()

    created = loyalty_api.post(CREATE_TIER, {"input": PLATINUM}, token=staff.token).data[
        "membershipTierCreate"
    ]
    assert created["errors"] == []
    assert created["tier"]["code"] == "platinum"
    assert (created["tier"]["thresholdKind"], created["tier"]["windowMonths"]) == (
        "AMOUNT_SPENT",
        0,
    )

    tier_id = created["tier"]["id"]
    updated = loyalty_api.post(
        UPDATE_TIER, {"id": tier_id, "input": {"thresholdValue": "25000"}}, token=staff.token
    ).data["membershipTierUpdate"]
    assert updated == {"errors": [], "tier": {"thresholdValue": "25000.00"}}

    deleted = loyalty_api.post(DELETE_TIER, {"id": tier_id}, token=staff.token).data[
        "membershipTierDelete"
    ]
    assert deleted == {"errors": [], "deletedId": tier_id}
    assert not MembershipTier.objects.filter(code="platinum").exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"code": "Not A Code!"}, "code"),
        ({"rank": 1}, "rank"),  # taken by silver
        ({"name": []}, "name"),
        ({"thresholdValue": "-5"}, "thresholdValue"),
        ({"windowMonths": 500}, "windowMonths"),
    ],
)
def test_invalid_tiers_are_field_errors_and_create_nothing(
    loyalty_api, staff_token, default_tiers, change, field
):
    payload = loyalty_api.post(
        CREATE_TIER, {"input": {**PLATINUM, **change}}, token=staff_token().token
    ).data["membershipTierCreate"]

    assert field in [e["field"] for e in payload["errors"]]
    assert payload["tier"] is None
    assert MembershipTier.objects.count() == 3


def test_staff_manage_benefits_of_a_tier(loyalty_api, staff_token, default_tiers):
    staff = staff_token()
    gold_id = to_global_id("MembershipTier", default_tiers[2].pk)

    created = loyalty_api.post(
        CREATE_BENEFIT,
        {
            "tierId": gold_id,
            "input": {
                "kind": "MEMBER_ONLY_PRODUCTS",
                "config": '{"collection_ids": ["Q29sbGVjdGlvbjox"]}',
                "title": [{"languageCode": "en", "text": "Members' collection"}],
            },
        },
        token=staff.token,
    ).data["tierBenefitCreate"]
    assert created["errors"] == []
    assert created["benefit"]["kind"] == "MEMBER_ONLY_PRODUCTS"

    benefit_id = created["benefit"]["id"]
    updated = loyalty_api.post(
        UPDATE_BENEFIT, {"id": benefit_id, "input": {"isActive": False}}, token=staff.token
    ).data["tierBenefitUpdate"]
    assert updated == {"errors": [], "benefit": {"value": None, "isActive": False}}

    deleted = loyalty_api.post(DELETE_BENEFIT, {"id": benefit_id}, token=staff.token).data[
        "tierBenefitDelete"
    ]
    assert deleted["errors"] == []
    assert not TierBenefit.objects.filter(kind="member_only_products").exists()


@pytest.mark.parametrize(
    ("input_", "field"),
    [
        ({"kind": "PERCENTAGE_DISCOUNT", "value": "150"}, "value"),
        ({"kind": "POINTS_MULTIPLIER", "value": "0.5"}, "value"),
        ({"value": "5"}, "kind"),
        ({"kind": "MEMBER_ONLY_PRODUCTS", "config": '{"product_ids": "UHJvZHVjdDox"}'}, "config"),
        ({"kind": "MEMBER_ONLY_PRODUCTS", "config": '{"product_ids": 42}'}, "config"),
        ({"kind": "MEMBER_ONLY_PRODUCTS", "config": '["UHJvZHVjdDox"]'}, "config"),
    ],
)
def test_invalid_benefits_are_field_errors(loyalty_api, staff_token, default_tiers, input_, field):
    before = TierBenefit.objects.count()
    payload = loyalty_api.post(
        CREATE_BENEFIT,
        {"tierId": to_global_id("MembershipTier", default_tiers[1].pk), "input": input_},
        token=staff_token().token,
    ).data["tierBenefitCreate"]

    assert [e["field"] for e in payload["errors"]] == [field]
    assert TierBenefit.objects.count() == before


def test_tiers_of_another_channel_cannot_be_changed_from_here(
    loyalty_api, staff_token, default_tiers
):
    elsewhere = tiers.seed_default_tiers("cn-store")[2]

    payload = loyalty_api.post(
        UPDATE_TIER,
        {"id": to_global_id("MembershipTier", elsewhere.pk), "input": {"thresholdValue": "1"}},
        token=staff_token().token,
    ).data["membershipTierUpdate"]

    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("id", "NOT_FOUND")]
    elsewhere.refresh_from_db()
    assert elsewhere.threshold_value == 5000


@pytest.mark.parametrize(
    "make_token",
    [
        lambda c, s: c().token,
        lambda c, s: s(permissions=()).token,
        lambda c, s: s(channels=["cn-store"]).token,
        lambda c, s: None,
    ],
    ids=["customer", "staff-without-manage-users", "staff-of-another-channel", "anonymous"],
)
def test_only_loyalty_managers_change_tiers_and_benefits(
    loyalty_api, customer_token, staff_token, default_tiers, make_token
):
    token = make_token(customer_token, staff_token)
    gold_id = to_global_id("MembershipTier", default_tiers[2].pk)

    responses = [
        loyalty_api.post(CREATE_TIER, {"input": PLATINUM}, token=token).data[
            "membershipTierCreate"
        ],
        loyalty_api.post(
            UPDATE_TIER, {"id": gold_id, "input": {"thresholdValue": "1"}}, token=token
        ).data["membershipTierUpdate"],
        loyalty_api.post(DELETE_TIER, {"id": gold_id}, token=token).data["membershipTierDelete"],
        loyalty_api.post(
            CREATE_BENEFIT, {"tierId": gold_id, "input": {"kind": "CUSTOM"}}, token=token
        ).data["tierBenefitCreate"],
    ]

    for payload in responses:
        assert payload["errors"][0]["code"] in {"PERMISSION_DENIED", "UNAUTHENTICATED"}
    assert MembershipTier.objects.count() == 3
    assert MembershipTier.objects.get(code="gold").threshold_value == 5000
