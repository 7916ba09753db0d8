"""The loyalty API inside a real Saleor: Saleor's own tokens, Saleor's plugin routing.

A customer logs in with Saleor's ``tokenCreate``, reads their account and redeems a
reward at ``/plugins/channel/<slug>/saleor.retention/graphql/``; staff need Saleor's
MANAGE_USERS; app tokens work like Saleor's own API; the balance is mirrored into the
user's public metadata.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from saleor.account.models import Group
from saleor.app.models import AppToken
from saleor.graphql.tests.utils import get_graphql_content
from saleor.plugins.models import PluginConfiguration

from saleor_retention_plugin.conf import LedgerSettings, MembershipSettings
from saleor_retention_plugin.graphql.ids import to_global_id
from saleor_retention_plugin.integrations.saleor.metadata import METADATA_KEY
from saleor_retention_plugin.models import LoyaltyAccount, PointsEntry
from saleor_retention_plugin.services import ledger, mall, tiers

PLUGIN_PATH = "saleor_retention_plugin.plugin.RetentionPlugin"

TOKEN_CREATE = """
mutation Login($email: String!, $password: String!) {
  tokenCreate(email: $email, password: $password) { token errors { field message } }
}
"""

MY_ACCOUNT = """
{
  myLoyaltyAccount {
    id userId balance spendablePoints
    history(first: 5) { edges { node { kind points } } }
  }
}
"""

REDEEM = """
mutation Redeem($rewardId: ID!, $key: String!) {
  rewardRedeem(rewardId: $rewardId, idempotencyKey: $key) {
    errors { field code message }
    redemption { status code pointsSpent expiresAt }
    account { balance }
  }
}
"""

ADJUST = """
mutation Adjust($userId: ID!) {
  loyaltyPointsAdjust(input: {userId: $userId, points: 50, reason: "Service recovery"}) {
    errors { field code message }
    transaction { points actor }
  }
}
"""


@pytest.fixture
def retention_plugin(settings, channel_USD):
    # Saleor's autouse fixture sets PLUGINS to the dummy gateways; this runs after it.
    settings.PLUGINS = [PLUGIN_PATH]
    PluginConfiguration.objects.create(
        identifier="saleor.retention", channel=channel_USD, active=True, configuration=[]
    )
    return channel_USD


def login(user) -> str:
    response = Client().post(
        "/graphql/",
        data=json.dumps(
            {"query": TOKEN_CREATE, "variables": {"email": user.email, "password": "password"}}
        ),
        content_type="application/json",
    )
    data = get_graphql_content(response)["data"]["tokenCreate"]
    assert data["errors"] == []
    return data["token"]


def call(channel, query: str, variables: dict | None = None, *, token: str | None = None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    response = Client().post(
        f"/plugins/channel/{channel.slug}/saleor.retention/graphql/",
        data=json.dumps({"query": query, "variables": variables or {}}),
        content_type="application/json",
        **headers,
    )
    return response.status_code, json.loads(response.content)


def give_points(channel, user, points: int) -> LoyaltyAccount:
    account = ledger.account_for(channel.slug, user.pk, user.email)
    ledger.adjust_points(
        account.pk,
        points,
        reason="welcome",
        actor="user:0",
        idempotency_key=f"saleor-tier:{account.pk}:{points}",
        settings=LedgerSettings(),
    )
    return account


def test_customer_reads_their_account_with_saleors_access_token(retention_plugin, customer_user):
    give_points(retention_plugin, customer_user, 300)
    token = login(customer_user)

    status, body = call(retention_plugin, MY_ACCOUNT, token=token)

    assert status == 200, body
    account = body["data"]["myLoyaltyAccount"]
    assert account["userId"] == to_global_id("User", customer_user.pk)
    assert (account["balance"], account["spendablePoints"]) == (300, 300)
    assert account["history"]["edges"] == [{"node": {"kind": "ADJUST", "points": 300}}]


def test_customer_redeems_a_reward_and_gets_a_code(
    retention_plugin, customer_user, django_capture_on_commit_callbacks
):
    give_points(retention_plugin, customer_user, 300)
    reward = mall.create_reward(
        retention_plugin.slug,
        kind="fixed_discount",
        name={"en": "USD 5 off", "zh-Hans": "5 美元优惠券"},
        points_cost=200,
        discount_value="5",
    )
    token = login(customer_user)

    with django_capture_on_commit_callbacks(execute=True):
        status, body = call(
            retention_plugin,
            REDEEM,
            {"rewardId": to_global_id("Reward", reward.pk), "key": "checkout-click-1"},
            token=token,
        )

    assert status == 200, body
    payload = body["data"]["rewardRedeem"]
    assert payload["errors"] == []
    assert payload["redemption"]["status"] == "ISSUED"
    assert payload["redemption"]["code"]
    assert payload["account"] == {"balance": 100}


ADD_PROMO_CODE = """
mutation Apply($id: ID!, $code: String!) {
  checkoutAddPromoCode(id: $id, promoCode: $code) {
    errors { field code message }
    checkout { discount { amount } voucherCode subtotalPrice { gross { amount } } }
  }
}
"""


def test_the_redeemed_code_discounts_a_real_checkout(
    retention_plugin, customer_user, checkout_with_item, user_api_client
):
    give_points(retention_plugin, customer_user, 300)
    reward = mall.create_reward(
        retention_plugin.slug,
        kind="fixed_discount",
        name={"en": "USD 5 off"},
        points_cost=200,
        discount_value="5",
    )
    _, body = call(
        retention_plugin,
        REDEEM,
        {"rewardId": to_global_id("Reward", reward.pk), "key": "k1"},
        token=login(customer_user),
    )
    code = body["data"]["rewardRedeem"]["redemption"]["code"]
    checkout_with_item.user = customer_user
    checkout_with_item.email = customer_user.email
    checkout_with_item.save(update_fields=["user", "email"])

    response = user_api_client.post_graphql(
        ADD_PROMO_CODE, {"id": to_global_id("Checkout", checkout_with_item.pk), "code": code}
    )

    payload = get_graphql_content(response)["data"]["checkoutAddPromoCode"]
    assert payload["errors"] == []
    assert payload["checkout"]["voucherCode"] == code
    assert payload["checkout"]["discount"]["amount"] == 5.0


def test_an_invalid_or_expired_saleor_token_is_a_401(retention_plugin, customer_user):
    token = login(customer_user)
    customer_user.jwt_token_key = "rotated"  # as after a password change / deactivateAllUserTokens
    customer_user.save(update_fields=["jwt_token_key"])

    stale_status, stale = call(retention_plugin, MY_ACCOUNT, token=token)
    forged_status, _ = call(retention_plugin, MY_ACCOUNT, token=token[:-4] + "AAAA")

    assert stale_status == 401
    assert "Invalid token" in stale["errors"][0]["message"]
    assert forged_status == 401
    assert not LoyaltyAccount.objects.exists()


def test_an_expired_saleor_token_is_a_401_with_its_code(retention_plugin, customer_user):
    token = login(customer_user)

    with time_machine.travel(timezone.now() + timedelta(days=1)):
        status, body = call(retention_plugin, MY_ACCOUNT, token=token)

    assert status == 401
    assert body["errors"][0]["extensions"]["exception"]["code"] == "ExpiredSignatureError"


def test_staff_limited_to_another_channel_cannot_manage_this_one(
    retention_plugin, channel_PLN, staff_user, customer_user, permission_manage_users
):
    group = Group.objects.create(name="PLN loyalty team", restricted_access_to_channels=True)
    group.permissions.add(permission_manage_users)
    group.channels.add(channel_PLN)
    staff_user.groups.add(group)
    token = login(staff_user)

    _, body = call(
        retention_plugin, ADJUST, {"userId": to_global_id("User", customer_user.pk)}, token=token
    )

    assert [e["code"] for e in body["data"]["loyaltyPointsAdjust"]["errors"]] == [
        "PERMISSION_DENIED"
    ]
    assert not PointsEntry.objects.exists()


def test_no_token_reads_nothing(retention_plugin):
    status, body = call(retention_plugin, MY_ACCOUNT)

    assert (status, body) == (200, {"data": {"myLoyaltyAccount": None}})


def test_staff_without_manage_users_are_refused(retention_plugin, staff_user, customer_user):
    token = login(staff_user)

    status, body = call(
        retention_plugin, ADJUST, {"userId": to_global_id("User", customer_user.pk)}, token=token
    )

    assert status == 200
    assert [e["code"] for e in body["data"]["loyaltyPointsAdjust"]["errors"]] == [
        "PERMISSION_DENIED"
    ]
    assert not PointsEntry.objects.exists()


def test_staff_with_manage_users_adjust_and_are_recorded(
    retention_plugin, staff_user, customer_user, permission_manage_users
):
    staff_user.user_permissions.add(permission_manage_users)
    token = login(staff_user)

    status, body = call(
        retention_plugin, ADJUST, {"userId": to_global_id("User", customer_user.pk)}, token=token
    )

    assert status == 200, body
    payload = body["data"]["loyaltyPointsAdjust"]
    assert payload["errors"] == []
    assert payload["transaction"] == {"points": 50, "actor": f"user:{staff_user.pk}"}


def test_app_tokens_authenticate_like_in_saleors_api(
    retention_plugin, app, customer_user, permission_manage_users
):
    app.permissions.add(permission_manage_users)
    _, raw_token = AppToken.objects.create(app=app, name="loyalty")
    customer_gid = to_global_id("User", customer_user.pk)

    status, body = call(
        retention_plugin,
        ADJUST,
        {"userId": customer_gid},
        token=raw_token,
    )

    assert status == 200, body
    assert body["data"]["loyaltyPointsAdjust"]["transaction"]["actor"] == f"app:{app.pk}"

    app.permissions.clear()
    _, body = call(
        retention_plugin,
        ADJUST,
        {"userId": customer_gid},
        token=raw_token,
    )
    assert [e["code"] for e in body["data"]["loyaltyPointsAdjust"]["errors"]] == [
        "PERMISSION_DENIED"
    ]

    wrong_status, _ = call(retention_plugin, MY_ACCOUNT, token="x" * 30)
    assert wrong_status == 401


def test_balance_and_tier_are_mirrored_into_public_metadata(
    retention_plugin, customer_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        give_points(retention_plugin, customer_user, 120)

    customer_user.refresh_from_db()
    mirrored = json.loads(customer_user.metadata[METADATA_KEY])
    assert mirrored["channels"][retention_plugin.slug]["balance"] == 120
    assert mirrored["channels"][retention_plugin.slug]["spendable"] == 120


def test_a_tier_change_is_mirrored_into_public_metadata(
    retention_plugin, customer_user, django_capture_on_commit_callbacks
):
    tiers.seed_default_tiers(retention_plugin.slug)
    account = ledger.account_for(retention_plugin.slug, customer_user.pk, customer_user.email)

    with django_capture_on_commit_callbacks(execute=True):
        change = tiers.evaluate_account(account.pk, settings=MembershipSettings())

    assert change is not None
    customer_user.refresh_from_db()
    mirrored = json.loads(customer_user.metadata[METADATA_KEY])
    assert mirrored["channels"][retention_plugin.slug]["tier"] == "member"
    assert mirrored["channels"][retention_plugin.slug]["tierName"]["zh-Hans"] == "普通会员"


def test_the_endpoint_answers_404_where_the_plugin_is_not_active(channel_USD, settings):
    settings.PLUGINS = [PLUGIN_PATH]

    response = Client().post(
        f"/plugins/channel/{channel_USD.slug}/saleor.retention/graphql/",
        data=json.dumps({"query": MY_ACCOUNT}),
        content_type="application/json",
    )

    assert response.status_code == 404
