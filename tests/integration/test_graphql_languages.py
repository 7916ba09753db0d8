"""Errors reach the caller in the request's language: Simplified Chinese for zh, zh-Hans
and zh-CN (``Accept-Language``), English otherwise.
"""

from __future__ import annotations

import pytest

from saleor_retention_plugin.conf import LedgerSettings
from saleor_retention_plugin.graphql.ids import to_global_id
from saleor_retention_plugin.models import Redemption
from saleor_retention_plugin.services import ledger, mall

pytestmark = pytest.mark.django_db

REDEEM = """
mutation Redeem($rewardId: ID!) {
  rewardRedeem(rewardId: $rewardId, idempotencyKey: "click-1") {
    errors { field code message }
  }
}
"""
CHINESE = ["zh-Hans", "zh-CN", "zh", "zh-Hans-CN,en;q=0.5"]
ENGLISH = [None, "en", "en-US,zh;q=0.3", "de"]


def _headers(language: str | None) -> dict[str, str]:
    return {"HTTP_ACCEPT_LANGUAGE": language} if language else {}


@pytest.fixture
def expensive_reward():
    account = ledger.account_for("main", 1, "li.na@example.com")
    ledger.adjust_points(
        account.pk,
        50,
        reason="test balance",
        actor="user:1",
        idempotency_key="funds",
        settings=LedgerSettings(),
    )
    reward = mall.create_reward(
        "main",
        kind="fixed_discount",
        name={"en": "CNY 10 off", "zh-Hans": "10 元优惠券"},
        points_cost=100,
        discount_value="10",
    )
    return to_global_id("Reward", reward.pk)


def _redeem_over_balance(loyalty_api, customer_token, reward_id, language):
    response = loyalty_api.post(
        REDEEM,
        {"rewardId": reward_id},
        token=customer_token(user_id=1).token,
        headers=_headers(language),
    )
    assert not Redemption.objects.exists()
    return response.data["rewardRedeem"]["errors"]


@pytest.mark.parametrize("language", CHINESE)
def test_a_redemption_over_the_balance_is_refused_in_chinese(
    loyalty_api, customer_token, expensive_reward, language
):
    errors = _redeem_over_balance(loyalty_api, customer_token, expensive_reward, language)

    assert [(e["code"], e["message"]) for e in errors] == [
        ("INSUFFICIENT_POINTS", "积分不足：兑换这个奖品需要 100 积分。")
    ]


@pytest.mark.parametrize("language", ENGLISH)
def test_a_redemption_over_the_balance_is_refused_in_english(
    loyalty_api, customer_token, expensive_reward, language
):
    errors = _redeem_over_balance(loyalty_api, customer_token, expensive_reward, language)

    assert [e["code"] for e in errors] == ["INSUFFICIENT_POINTS"]
    assert errors[0]["message"].isascii()


@pytest.mark.parametrize(
    ("language", "expected"),
    [("zh-Hans", "请先登录"), ("en", "Sign in first")],
)
def test_anonymous_redeemers_are_told_to_sign_in_in_their_language(
    loyalty_api, expensive_reward, language, expected
):
    response = loyalty_api.post(REDEEM, {"rewardId": expensive_reward}, headers=_headers(language))

    [error] = response.data["rewardRedeem"]["errors"]
    assert error["code"] == "UNAUTHENTICATED"
    assert error["message"].startswith(expected)


@pytest.mark.parametrize(
    ("language", "expected"),
    [("zh-CN", "需要 Reward 类型的 ID。"), ("en", "Must receive a Reward id.")],
)
def test_mistyped_ids_are_explained_in_the_callers_language(
    loyalty_api, customer_token, language, expected
):
    response = loyalty_api.post(
        REDEEM,
        {"rewardId": to_global_id("LoyaltyAccount", 1)},
        token=customer_token(user_id=1).token,
        headers=_headers(language),
    )

    assert [e["message"] for e in response.data["rewardRedeem"]["errors"]] == [expected]


@pytest.mark.parametrize(
    ("language", "expected"),
    [("zh-Hans", "您需要以下权限之一：MANAGE_USERS。"), (None, "You need one of the following")],
)
def test_query_refusals_come_in_the_callers_language(
    loyalty_api, customer_token, language, expected
):
    response = loyalty_api.post(
        '{ loyaltyAccount(email: "x@example.com") { id } }',
        token=customer_token().token,
        headers=_headers(language),
    )

    assert response.status == 200
    assert response.error_messages[0].startswith(expected)


@pytest.mark.parametrize(
    ("language", "expected"),
    [("zh", "无效的令牌。"), ("en-GB", "Invalid token.")],
)
def test_a_bad_token_is_refused_with_401_in_the_callers_language(loyalty_api, language, expected):
    response = loyalty_api.post(
        "{ myLoyaltyAccount { id } }", token="not-a-token", headers=_headers(language)
    )

    assert response.status == 401
    assert response.error_messages == [expected]


@pytest.mark.parametrize(
    ("language", "expected"),
    [("zh-Hans", "无效的游标"), ("en", "Invalid cursor")],
)
def test_invalid_cursors_are_explained_in_the_callers_language(
    loyalty_api, customer_token, language, expected
):
    response = loyalty_api.post(
        '{ rewards(after: "bm9wZQ==") { edges { cursor } } }',
        token=customer_token().token,
        headers=_headers(language),
    )

    assert response.error_messages[0].startswith(expected)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh-Hans", "这次兑换已经完成，没有重复扣除积分。"),
        (
            "en",
            "This redemption was already made (same idempotency key); no points were spent again.",
        ),
    ],
)
def test_the_same_key_again_is_answered_with_the_first_redemption_in_the_callers_language(
    loyalty_api, customer_token, expensive_reward, language, expected
):
    ledger.adjust_points(
        ledger.account_for("main", 1, "li.na@example.com").pk,
        50,
        reason="top up",
        actor="user:1",
        idempotency_key="top-up",
        settings=LedgerSettings(),
    )
    query = REDEEM.replace("errors {", "redemption { code } errors {")
    token = customer_token(user_id=1).token
    first = loyalty_api.post(query, {"rewardId": expensive_reward}, token=token)
    again = loyalty_api.post(
        query, {"rewardId": expensive_reward}, token=token, headers=_headers(language)
    )

    answer = again.data["rewardRedeem"]
    assert answer["errors"] == [
        {"field": "idempotencyKey", "code": "DUPLICATE_REDEMPTION", "message": expected}
    ]
    assert answer["redemption"] == first.data["rewardRedeem"]["redemption"]
    assert Redemption.objects.count() == 1
