"""The points mall over the loyalty API: listing, redeeming, and staff managing rewards."""

from __future__ import annotations

import base64
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from saleor_retention_plugin.conf import LedgerSettings
from saleor_retention_plugin.graphql.ids import to_global_id
from saleor_retention_plugin.models import LoyaltyAccount, PointsEntry, Redemption, Reward
from saleor_retention_plugin.services import ledger, mall

pytestmark = pytest.mark.django_db

REWARDS = """
query Rewards($first: Int, $after: String, $all: Boolean) {
  rewards(first: $first, after: $after, includeUnavailable: $all) {
    edges { cursor node { id kind name pointsCost stock discountValue } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

REDEEM = """
mutation Redeem($rewardId: ID!, $key: String!) {
  rewardRedeem(rewardId: $rewardId, idempotencyKey: $key) {
    errors { field code message }
    redemption { id status code pointsSpent issuedKind issuedValue expiresAt reward { id } }
    account { balance spendablePoints }
  }
}
"""

MY_REDEMPTIONS = """
{ myLoyaltyAccount { redemptions(first: 10) { edges { node { code status reward { name } } } } } }
"""


@pytest.fixture
def funded_account():
    """``funded_account(points, customer_id=...)``: an account with spendable points."""

    def make(points: int, *, customer_id: int = 1, channel: str = "main") -> LoyaltyAccount:
        account = ledger.account_for(channel, customer_id, f"customer{customer_id}@example.com")
        if points:
            ledger.adjust_points(
                account.pk,
                points,
                reason="test balance",
                actor="user:1",
                idempotency_key=f"funds:{account.pk}",
                settings=LedgerSettings(),
            )
        return account

    return make


@pytest.fixture
def reward():
    def make(channel: str = "main", **fields):
        values = {
            "kind": "fixed_discount",
            "name": {"en": "CNY 10 off", "zh-Hans": "10 元优惠券"},
            "points_cost": 100,
            "discount_value": "10",
            **fields,
        }
        return mall.create_reward(channel, **values)

    return make


def gid(reward_: Reward) -> str:
    return to_global_id("Reward", reward_.pk)


def redeem(api, caller, reward_id: str, key: str = "click-1"):
    return api.post(REDEEM, {"rewardId": reward_id, "key": key}, token=caller.token).data[
        "rewardRedeem"
    ]


def balance_of(customer_id: int, channel: str = "main") -> int:
    return LoyaltyAccount.objects.get(customer_id=customer_id, channel_slug=channel).balance


def test_customers_see_only_rewards_available_now(loyalty_api, reward):
    available = reward(name={"en": "Free shipping"}, kind="free_shipping", discount_value=None)
    reward(name={"en": "Retired"}, is_active=False)
    reward(name={"en": "Sold out"}, stock=0)
    reward(name={"en": "Next week"}, active_from=timezone.now() + timedelta(days=7))
    reward("cn-store", name={"en": "Other channel"})

    edges = loyalty_api.post(REWARDS).data["rewards"]["edges"]

    assert [edge["node"]["id"] for edge in edges] == [gid(available)]


@pytest.mark.parametrize(
    "offset",
    ["9" * 30, str(2**63), "1000000", "١٢"],  # past bigint, past the cap, Arabic-Indic digits
)
def test_forged_reward_cursors_are_invalid_not_internal_errors(loyalty_api, reward, offset):
    reward()
    forged = base64.b64encode(f"Reward:{offset}".encode()).decode()

    response = loyalty_api.post(REWARDS, {"first": 5, "after": forged})

    assert response.status == 200
    assert response.error_messages == [f"Invalid cursor: {forged!r}."]
    assert response.body["data"] is None


def test_staff_list_every_reward_customers_may_not(
    loyalty_api, reward, staff_token, customer_token
):
    reward(is_active=False)

    assert (
        len(
            loyalty_api.post(REWARDS, {"all": True}, token=staff_token().token).data["rewards"][
                "edges"
            ]
        )
        == 1
    )
    refused = loyalty_api.post(REWARDS, {"all": True}, token=customer_token().token)
    assert refused.error_messages == ["You need one of the following permissions: MANAGE_USERS."]


def test_rewards_are_paginated(loyalty_api, reward):
    for cost in range(100, 600, 100):
        reward(points_cost=cost)

    first = loyalty_api.post(REWARDS, {"first": 2}).data["rewards"]
    rest = loyalty_api.post(REWARDS, {"first": 10, "after": first["pageInfo"]["endCursor"]}).data[
        "rewards"
    ]

    assert [e["node"]["pointsCost"] for e in first["edges"]] == [100, 200]
    assert first["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["pointsCost"] for e in rest["edges"]] == [300, 400, 500]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert loyalty_api.post(REWARDS, {"first": 101}).error_messages == [
        "'first' must be between 1 and 100; 101 was given."
    ]


def test_redeeming_spends_the_points_and_returns_a_code(
    loyalty_api, customer_token, reward, funded_account
):
    me = customer_token(user_id=1)
    funded_account(250, customer_id=1)
    coupon = reward(stock=5)

    payload = redeem(loyalty_api, me, gid(coupon))

    assert payload["errors"] == []
    redemption = payload["redemption"]
    assert (redemption["status"], redemption["pointsSpent"], redemption["issuedKind"]) == (
        "ISSUED",
        100,
        "fixed_discount",
    )
    assert redemption["issuedValue"] == "10.00"
    assert len(redemption["code"]) >= 12
    assert redemption["expiresAt"] is not None
    assert payload["account"] == {"balance": 150, "spendablePoints": 150}
    coupon.refresh_from_db()
    assert coupon.stock == 4
    history = loyalty_api.post(MY_REDEMPTIONS, token=me.token).data["myLoyaltyAccount"][
        "redemptions"
    ]["edges"]
    assert history == [
        {"node": {"code": redemption["code"], "status": "ISSUED", "reward": {"name": "CNY 10 off"}}}
    ]


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (lambda make: make(points_cost=500), "INSUFFICIENT_POINTS"),
        (lambda make: make(stock=0), "OUT_OF_STOCK"),
        (lambda make: make(is_active=False), "REWARD_UNAVAILABLE"),
        (
            lambda make: make(
                active_until=timezone.now() - timedelta(seconds=1),
                active_from=timezone.now() - timedelta(days=1),
            ),
            "REWARD_UNAVAILABLE",
        ),
        (lambda make: make("cn-store"), "NOT_FOUND"),
    ],
    ids=["over-the-balance", "out-of-stock", "inactive", "ended", "another-channel"],
)
def test_refused_redemptions_change_nothing(
    loyalty_api, customer_token, reward, funded_account, setup, code
):
    me = customer_token(user_id=1)
    funded_account(250, customer_id=1)
    target = setup(reward)

    payload = redeem(loyalty_api, me, gid(target))

    assert [e["code"] for e in payload["errors"]] == [code]
    assert payload["redemption"] is None
    assert balance_of(1) == 250
    assert not Redemption.objects.exists()


@pytest.mark.parametrize(
    ("reward_id", "message"),
    [
        (to_global_id("Reward", 987_654), "No such reward in this shop."),
        (to_global_id("LoyaltyAccount", 1), "Must receive a Reward id."),
        ("%%%", "Couldn't resolve id: %%%."),
    ],
)
def test_unknown_and_mistyped_reward_ids(
    loyalty_api, customer_token, funded_account, reward_id, message
):
    funded_account(250, customer_id=1)

    payload = redeem(loyalty_api, customer_token(user_id=1), reward_id)

    assert [e["message"] for e in payload["errors"]] == [message]
    assert balance_of(1) == 250


def test_the_per_customer_limit_holds(loyalty_api, customer_token, reward, funded_account):
    me = customer_token(user_id=1)
    funded_account(1000, customer_id=1)
    once = reward(per_customer_limit=1)

    assert redeem(loyalty_api, me, gid(once), key="a")["errors"] == []
    second = redeem(loyalty_api, me, gid(once), key="b")

    assert [e["code"] for e in second["errors"]] == ["LIMIT_REACHED"]
    assert balance_of(1) == 900


def test_the_limit_message_names_the_limit_even_after_it_was_lowered(
    loyalty_api, customer_token, reward, funded_account
):
    me = customer_token(user_id=1)
    funded_account(1000, customer_id=1)
    coupon = reward(per_customer_limit=3)
    for key in ("a", "b"):
        assert redeem(loyalty_api, me, gid(coupon), key=key)["errors"] == []
    mall.update_reward(coupon.pk, per_customer_limit=1)

    refused = loyalty_api.post(
        REDEEM,
        {"rewardId": gid(coupon), "key": "c"},
        token=me.token,
        headers={"HTTP_ACCEPT_LANGUAGE": "zh-Hans"},
    ).data["rewardRedeem"]

    assert [e["message"] for e in refused["errors"]] == [
        "这个奖品每人最多兑换 1 次，您已达到上限。"
    ]
    assert balance_of(1) == 800


HISTORY = """
query History($language: String) {
  myLoyaltyAccount {
    history(first: 5) { edges { node { kind reason description(languageCode: $language) } } }
  }
}
"""


@pytest.mark.parametrize(
    ("language", "description"),
    [("zh-Hans", "积分商城：10 元优惠券"), ("en", "Points mall: CNY 10 off")],
)
def test_the_history_describes_a_redemption_in_the_customers_language(
    loyalty_api, customer_token, reward, funded_account, language, description
):
    me = customer_token(user_id=1)
    funded_account(1000, customer_id=1)
    assert redeem(loyalty_api, me, gid(reward()))["errors"] == []

    edges = loyalty_api.post(HISTORY, {"language": language}, token=me.token).data[
        "myLoyaltyAccount"
    ]["history"]["edges"]

    assert edges[0]["node"] == {
        "kind": "REDEEM",
        "reason": "Points mall: CNY 10 off",  # the record stays English
        "description": description,
    }
    # A staff adjustment is described by the reason its author wrote.
    assert edges[1]["node"]["description"] == "test balance"


def test_the_same_key_twice_redeems_once_and_says_so(
    loyalty_api, customer_token, reward, funded_account
):
    me = customer_token(user_id=1)
    funded_account(1000, customer_id=1)
    coupon = reward()

    first = redeem(loyalty_api, me, gid(coupon), key="same")
    again = redeem(loyalty_api, me, gid(coupon), key="same")

    assert [(e["field"], e["code"]) for e in again["errors"]] == [
        ("idempotencyKey", "DUPLICATE_REDEMPTION")
    ]
    assert again["redemption"]["code"] == first["redemption"]["code"]
    assert balance_of(1) == 900


def test_anonymous_callers_and_apps_cannot_redeem(loyalty_api, reward, app_token):
    coupon = reward()

    anonymous = loyalty_api.post(REDEEM, {"rewardId": gid(coupon), "key": "k"}).data["rewardRedeem"]
    app = redeem(loyalty_api, app_token(), gid(coupon))

    assert [e["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]
    assert [e["code"] for e in app["errors"]] == ["PERMISSION_DENIED"]
    assert not Redemption.objects.exists()


def test_a_customer_spends_only_their_own_points(
    loyalty_api, customer_token, reward, funded_account
):
    funded_account(1000, customer_id=2)  # someone else is rich
    funded_account(0, customer_id=1)
    coupon = reward()

    payload = redeem(loyalty_api, customer_token(user_id=1), gid(coupon))

    assert [e["code"] for e in payload["errors"]] == ["INSUFFICIENT_POINTS"]
    assert balance_of(2) == 1000


@pytest.mark.django_db(transaction=True)
def test_the_same_redemption_sent_twice_at_once_spends_once(
    loyalty_api, customer_token, reward, funded_account
):
    me = customer_token(user_id=1)
    funded_account(1000, customer_id=1)
    coupon = reward(stock=10)
    start = threading.Barrier(2)
    results: list[dict] = []

    def click() -> None:
        try:
            start.wait()
            results.append(redeem(loyalty_api, me, gid(coupon), key="double-click"))
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    codes = sorted(tuple(e["code"] for e in result["errors"]) for result in results)
    assert codes == [(), ("DUPLICATE_REDEMPTION",)]
    assert balance_of(1) == 900
    assert Redemption.objects.count() == 1
    assert PointsEntry.objects.filter(kind="redeem").count() == 1
    coupon.refresh_from_db()
    assert coupon.stock == 9


# --- staff: the catalogue --------------------------------------------------------------------

CREATE = """
mutation Create($input: RewardInput!) {
  rewardCreate(input: $input) {
    errors { field code message }
    reward { id kind name pointsCost stock drawSeedHash drawPrizes }
  }
}
"""
UPDATE = """
mutation Update($id: ID!, $input: RewardInput!) {
  rewardUpdate(id: $id, input: $input) {
    errors { field code message }
    reward { pointsCost stock isActive }
  }
}
"""
DELETE = """
mutation Delete($id: ID!) {
  rewardDelete(id: $id) { errors { field code } deleted reward { isActive } }
}
"""
COUPON_INPUT = {
    "kind": "PERCENTAGE_DISCOUNT",
    "name": [
        {"languageCode": "en", "text": "10% off"},
        {"languageCode": "zh-Hans", "text": "九折券"},
    ],
    "pointsCost": 300,
    "discountValue": "10",
    "stock": 50,
    "perCustomerLimit": 2,
}


def test_staff_create_update_and_delete_rewards(loyalty_api, staff_token):
    staff = staff_token()

    created = loyalty_api.post(CREATE, {"input": COUPON_INPUT}, token=staff.token).data[
        "rewardCreate"
    ]
    assert created["errors"] == []
    reward_id = created["reward"]["id"]
    assert (created["reward"]["kind"], created["reward"]["pointsCost"]) == (
        "PERCENTAGE_DISCOUNT",
        300,
    )

    updated = loyalty_api.post(
        UPDATE, {"id": reward_id, "input": {"pointsCost": 250, "stock": 10}}, token=staff.token
    ).data["rewardUpdate"]
    assert updated == {"errors": [], "reward": {"pointsCost": 250, "stock": 10, "isActive": True}}

    deleted = loyalty_api.post(DELETE, {"id": reward_id}, token=staff.token).data["rewardDelete"]
    assert deleted == {"errors": [], "deleted": True, "reward": None}
    assert not Reward.objects.exists()


def test_a_redeemed_reward_is_deactivated_not_deleted(
    loyalty_api, staff_token, customer_token, reward, funded_account
):
    funded_account(500, customer_id=1)
    coupon = reward()
    redeem(loyalty_api, customer_token(user_id=1), gid(coupon))

    payload = loyalty_api.post(DELETE, {"id": gid(coupon)}, token=staff_token().token).data[
        "rewardDelete"
    ]

    assert payload == {"errors": [], "deleted": False, "reward": {"isActive": False}}
    assert Redemption.objects.count() == 1


def test_a_prize_draw_publishes_its_seed_hash_and_odds(loyalty_api, staff_token):
    draw = {
        "kind": "PRIZE_DRAW",
        "name": [{"languageCode": "en", "text": "Lucky draw"}],
        "pointsCost": 50,
        "drawPrizes": [
            {
                "code": "big",
                "name": [{"languageCode": "en", "text": "CNY 100 off"}],
                "probability": "0.01",
                "kind": "FIXED_DISCOUNT",
                "discountValue": "100",
                "quantity": 1,
            },
            {
                "code": "ship",
                "name": [{"languageCode": "en", "text": "Free shipping"}],
                "probability": "0.2",
                "kind": "FREE_SHIPPING",
            },
        ],
    }

    created = loyalty_api.post(CREATE, {"input": draw}, token=staff_token().token).data[
        "rewardCreate"
    ]

    assert created["errors"] == []
    assert len(created["reward"]["drawSeedHash"]) == 64
    assert "0.01" in created["reward"]["drawPrizes"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"pointsCost": 0}, "pointsCost"),
        ({"pointsCost": -5}, "pointsCost"),
        ({"discountValue": "150"}, "discountValue"),
        ({"stock": -1}, "stock"),
        ({"name": []}, "name"),
        (
            {"activeFrom": "2030-01-02T00:00:00+00:00", "activeUntil": "2030-01-01T00:00:00+00:00"},
            "activeUntil",
        ),
    ],
)
def test_invalid_rewards_are_field_errors_and_create_nothing(
    loyalty_api, staff_token, change, field
):
    payload = loyalty_api.post(
        CREATE, {"input": {**COUPON_INPUT, **change}}, token=staff_token().token
    ).data["rewardCreate"]

    assert field in [e["field"] for e in payload["errors"]]
    assert not Reward.objects.exists()


@pytest.mark.parametrize("points_cost", [1.5, "300", "many"])
def test_non_integer_costs_are_refused_before_execution(loyalty_api, staff_token, points_cost):
    response = loyalty_api.post(
        CREATE, {"input": {**COUPON_INPUT, "pointsCost": points_cost}}, token=staff_token().token
    )

    assert response.status == 400
    assert not Reward.objects.exists()


@pytest.mark.parametrize(
    "make_token",
    [lambda c, s: c().token, lambda c, s: s(permissions=()).token, lambda c, s: None],
    ids=["customer", "staff-without-manage-users", "anonymous"],
)
def test_only_loyalty_managers_change_the_catalogue(
    loyalty_api, customer_token, staff_token, reward, make_token
):
    token = make_token(customer_token, staff_token)
    coupon = reward()

    payloads = [
        loyalty_api.post(CREATE, {"input": COUPON_INPUT}, token=token).data["rewardCreate"],
        loyalty_api.post(UPDATE, {"id": gid(coupon), "input": {"pointsCost": 1}}, token=token).data[
            "rewardUpdate"
        ],
        loyalty_api.post(DELETE, {"id": gid(coupon)}, token=token).data["rewardDelete"],
    ]

    assert all(p["errors"][0]["code"] in {"PERMISSION_DENIED", "UNAUTHENTICATED"} for p in payloads)
    coupon.refresh_from_db()
    assert (Reward.objects.count(), coupon.points_cost) == (1, 100)


def test_rewards_of_another_channel_cannot_be_changed_from_here(loyalty_api, staff_token, reward):
    elsewhere = reward("cn-store")

    payload = loyalty_api.post(
        UPDATE, {"id": gid(elsewhere), "input": {"pointsCost": 1}}, token=staff_token().token
    ).data["rewardUpdate"]

    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("id", "NOT_FOUND")]
