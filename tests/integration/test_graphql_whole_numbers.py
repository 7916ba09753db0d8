"""An ``Int`` sent in variables must be a whole number: 9.9, "2" and true are refused
before anything runs (graphql-core would otherwise round them to 9, 2 and 1).
"""

from __future__ import annotations

import pytest

from saleor_retention_plugin.models import CustomerProfile, MembershipTier, Reward
from saleor_retention_plugin.services import mall

pytestmark = pytest.mark.django_db

NOT_WHOLE = [9.9, 2.0, "2", True]

REWARDS = """
query Rewards($first: Int) { rewards(first: $first) { edges { node { id } } } }
"""
SET_BIRTHDAY = """
mutation Birthday($month: Int!, $day: Int!, $year: Int) {
  birthdaySet(month: $month, day: $day, year: $year) { errors { field } birthday { month } }
}
"""
CREATE_REWARD = """
mutation Create($input: RewardInput!) {
  rewardCreate(input: $input) { errors { field } reward { id stock } }
}
"""
CREATE_TIER = """
mutation Create($input: MembershipTierInput!) {
  membershipTierCreate(input: $input) { errors { field } tier { id } }
}
"""
REWARD_INPUT = {
    "kind": "FIXED_DISCOUNT",
    "name": [
        {"languageCode": "en", "text": "CNY 5 off"},
        {"languageCode": "zh-Hans", "text": "5 元"},
    ],
    "pointsCost": 50,
    "discountValue": "5",
}
TIER_INPUT = {
    "code": "platinum",
    "rank": 3,
    "name": [
        {"languageCode": "en", "text": "Platinum"},
        {"languageCode": "zh-Hans", "text": "铂金"},
    ],
    "thresholdKind": "POINTS_EARNED",
    "thresholdValue": "99999",
}


def _refused(response, path):
    assert response.status == 400, response.body
    assert "data" not in response.body
    [message] = response.error_messages
    assert message.startswith(f"Variable {path} got ")
    assert "whole number" in message


@pytest.mark.parametrize("value", NOT_WHOLE)
def test_page_sizes_must_be_whole_numbers(loyalty_api, customer_token, value):
    _refused(loyalty_api.post(REWARDS, {"first": value}, token=customer_token().token), "$first")


@pytest.mark.parametrize("field", ["month", "day", "year"])
@pytest.mark.parametrize("value", NOT_WHOLE)
def test_birthdays_must_be_whole_numbers_and_nothing_is_recorded(
    loyalty_api, customer_token, field, value
):
    variables = {"month": 5, "day": 4, "year": 1990, field: value}

    _refused(loyalty_api.post(SET_BIRTHDAY, variables, token=customer_token().token), f"${field}")
    assert not CustomerProfile.objects.exists()


@pytest.mark.parametrize("field", ["stock", "perCustomerLimit", "codeValidityDays", "position"])
@pytest.mark.parametrize("value", NOT_WHOLE)
def test_reward_numbers_must_be_whole_and_nothing_is_created(
    loyalty_api, staff_token, field, value
):
    variables = {"input": {**REWARD_INPUT, field: value}}

    _refused(
        loyalty_api.post(CREATE_REWARD, variables, token=staff_token().token), f"$input.{field}"
    )
    assert not Reward.objects.exists()


def test_numbers_inside_lists_of_input_objects_are_checked(loyalty_api, staff_token):
    prize = {
        "code": "big",
        "name": [{"languageCode": "en", "text": "Big"}],
        "probability": "0.5",
        "kind": "FIXED_DISCOUNT",
        "discountValue": "5",
        "quantity": 1.5,
    }
    variables = {"input": {**REWARD_INPUT, "kind": "PRIZE_DRAW", "drawPrizes": [prize]}}

    _refused(
        loyalty_api.post(CREATE_REWARD, variables, token=staff_token().token),
        "$input.drawPrizes[0].quantity",
    )
    assert not Reward.objects.exists()


@pytest.mark.parametrize("field", ["rank", "windowMonths"])
@pytest.mark.parametrize("value", NOT_WHOLE)
def test_tier_numbers_must_be_whole_and_nothing_is_created(loyalty_api, staff_token, field, value):
    before = MembershipTier.objects.count()

    _refused(
        loyalty_api.post(
            CREATE_TIER, {"input": {**TIER_INPUT, field: value}}, token=staff_token().token
        ),
        f"$input.{field}",
    )
    assert MembershipTier.objects.count() == before


def test_the_refusal_speaks_chinese_when_asked(loyalty_api, customer_token):
    response = loyalty_api.post(
        REWARDS,
        {"first": 9.9},
        token=customer_token().token,
        headers={"HTTP_ACCEPT_LANGUAGE": "zh-Hans"},
    )

    assert response.status == 400
    assert response.error_messages == [
        "变量 $first 的值 9.9 无效：请发送整数（不能是小数、字符串或布尔值）。"
    ]


def test_whole_numbers_still_work(loyalty_api, staff_token):
    payload = loyalty_api.post(
        CREATE_REWARD, {"input": {**REWARD_INPUT, "stock": 7}}, token=staff_token().token
    ).data["rewardCreate"]

    assert payload["errors"] == []
    assert payload["reward"]["stock"] == 7
    assert mall.rewards_of_channel("main", now=None, available_only=False).count() == 1
