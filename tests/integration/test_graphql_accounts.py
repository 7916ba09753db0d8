"""The loyalty API: reading my account and its history, and what others cannot read."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from saleor_retention_plugin.conf import LedgerSettings
from saleor_retention_plugin.domain.orders import CANCELLED_STATUS
from saleor_retention_plugin.graphql.ids import to_global_id
from saleor_retention_plugin.models import LoyaltyAccount, PointsEntry
from saleor_retention_plugin.services import tiers
from saleor_retention_plugin.services.ledger import account_for, adjust_points, sync_order_points

pytestmark = pytest.mark.django_db

MY_ACCOUNT = """
query MyAccount($first: Int, $after: String) {
  myLoyaltyAccount {
    id channel userId balance spendablePoints pendingPoints lifetimePoints
    pointsExpiringSoon { points expiresAt }
    tier { code name benefits { kind value } }
    nextTier { tier { code } remaining ratio }
    benefits { kind }
    history(first: $first, after: $after) {
      edges { cursor node { id kind points reason actor createdAt } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""

ACCOUNT_BY_KEY = """
query Account($id: ID, $userId: ID, $email: String) {
  loyaltyAccount(id: $id, userId: $userId, email: $email) { id balance email }
}
"""


@pytest.fixture
def give_points():
    """``give_points(customer_id, points, channel=..., expiry_months=0)``: a staff credit."""

    def give(
        customer_id: int,
        points: int,
        *,
        channel: str = "main",
        email: str | None = None,
        expiry_months: int = 0,
        reason: str = "welcome gift",
    ) -> LoyaltyAccount:
        account = account_for(channel, customer_id, email)
        adjust_points(
            account.pk,
            points,
            reason=reason,
            actor="user:1",
            idempotency_key=f"test:{account.pk}:{points}:{reason}",
            settings=LedgerSettings(expiry_months=expiry_months),
        )
        account.refresh_from_db()
        return account

    return give


def test_customer_reads_own_balance_history_and_points_expiring_soon(
    loyalty_api, customer_token, give_points
):
    me = customer_token(user_id=1001)
    with time_machine.travel(timezone.now() - timedelta(days=350), tick=False):
        give_points(1001, 300, expiry_months=12, reason="last year's gift")
    account = give_points(1001, 120, reason="welcome gift")

    response = loyalty_api.post(MY_ACCOUNT, token=me.token)

    data = response.data["myLoyaltyAccount"]
    assert data["id"] == to_global_id("LoyaltyAccount", account.pk)
    assert data["userId"] == me.global_user_id
    assert data["channel"] == "main"
    assert (data["balance"], data["spendablePoints"], data["pendingPoints"]) == (420, 420, 0)
    assert [item["points"] for item in data["pointsExpiringSoon"]] == [300]
    history = [edge["node"] for edge in data["history"]["edges"]]
    assert [(node["kind"], node["points"], node["reason"]) for node in history] == [
        ("ADJUST", 120, "welcome gift"),
        ("ADJUST", 300, "last year's gift"),
    ]
    # Who adjusted is for staff eyes only.
    assert {node["actor"] for node in history} == {None}


def test_first_read_opens_an_empty_account(loyalty_api, customer_token):
    response = loyalty_api.post(MY_ACCOUNT, token=customer_token(user_id=55).token)

    data = response.data["myLoyaltyAccount"]
    assert (data["balance"], data["history"]["edges"]) == (0, [])
    assert LoyaltyAccount.objects.filter(customer_id=55, channel_slug="main").count() == 1


def test_anonymous_caller_has_no_account(loyalty_api):
    assert loyalty_api.post(MY_ACCOUNT).data == {"myLoyaltyAccount": None}
    assert not LoyaltyAccount.objects.exists()


def test_accounts_are_per_channel(loyalty_api, customer_token, give_points):
    me = customer_token(user_id=1001)
    give_points(1001, 500, channel="main")
    give_points(1001, 7, channel="cn-store")

    in_cn = loyalty_api.post(MY_ACCOUNT, token=me.token, channel="cn-store")

    assert in_cn.data["myLoyaltyAccount"]["balance"] == 7
    assert in_cn.data["myLoyaltyAccount"]["channel"] == "cn-store"


def test_history_pages_follow_cursors_to_the_end(loyalty_api, customer_token, give_points):
    me = customer_token(user_id=1001)
    for number in range(5):
        give_points(1001, 10 + number, reason=f"gift {number}")

    seen, after, pages = [], None, 0
    while True:
        page = loyalty_api.post(MY_ACCOUNT, {"first": 2, "after": after}, token=me.token)
        history = page.data["myLoyaltyAccount"]["history"]
        seen += [edge["node"]["points"] for edge in history["edges"]]
        assert history["pageInfo"]["startCursor"] == history["edges"][0]["cursor"]
        assert history["pageInfo"]["hasPreviousPage"] is False
        pages += 1
        if not history["pageInfo"]["hasNextPage"]:
            break
        after = history["pageInfo"]["endCursor"]

    assert seen == [14, 13, 12, 11, 10]
    assert pages == 3


@pytest.mark.parametrize("first", [0, -1, 101, 100_000])
def test_page_size_is_bounded(loyalty_api, customer_token, first):
    response = loyalty_api.post(MY_ACCOUNT, {"first": first}, token=customer_token().token)

    assert response.status == 200
    assert response.body["data"]["myLoyaltyAccount"] is None
    assert response.error_messages == [f"'first' must be between 1 and 100; {first} was given."]


def test_a_forged_cursor_is_an_error_not_a_lookup(loyalty_api, customer_token):
    response = loyalty_api.post(
        MY_ACCOUNT, {"first": 5, "after": "bm90IGEgY3Vyc29y"}, token=customer_token().token
    )

    assert response.error_messages == ["Invalid cursor: 'bm90IGEgY3Vyc29y'."]


def test_reading_my_account_costs_the_same_queries_for_10_or_10_000_entries(
    loyalty_api, customer_token, give_points
):
    me = customer_token(user_id=1001)
    account = give_points(1001, 5)
    tiers.seed_default_tiers("main")

    def grow_history_to(size: int) -> None:
        now = timezone.now()
        existing = PointsEntry.objects.filter(account=account).count()
        PointsEntry.objects.bulk_create(
            PointsEntry(
                account=account,
                kind=PointsEntry.Kind.ADJUST,
                points=1,
                idempotency_key=f"bulk:{number}",
                reason="bulk",
                created_at=now - timedelta(minutes=number),
            )
            for number in range(existing, size)
        )

    def queries_to_read_my_account() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = loyalty_api.post(MY_ACCOUNT, {"first": 100}, token=me.token)
        assert response.data["myLoyaltyAccount"]["history"]["edges"]
        # A read runs in a transaction (so an answer with an error keeps nothing); inside
        # the test's own transaction that shows as a savepoint, which reads nothing.
        return sum(1 for query in queries if "SAVEPOINT" not in query["sql"])

    grow_history_to(10)
    with_10 = queries_to_read_my_account()
    grow_history_to(10_000)
    with_10_000 = queries_to_read_my_account()

    # The account row, its open lots (balances, expiry), its tier row, the channel's tiers,
    # their benefits, one aggregate over qualifying orders, one page of history.
    assert with_10 == with_10_000 == 7


# --- staff reading any account --------------------------------------------------------------


def test_staff_with_manage_users_reads_any_account_by_each_key(
    loyalty_api, staff_token, give_points
):
    account = give_points(2002, 80, email="wang.fang@example.com")
    staff = staff_token()

    for variables in (
        {"id": to_global_id("LoyaltyAccount", account.pk)},
        {"userId": to_global_id("User", 2002)},
        {"email": "Wang.Fang@example.com "},
    ):
        data = loyalty_api.post(ACCOUNT_BY_KEY, variables, token=staff.token).data
        assert data["loyaltyAccount"] == {
            "id": to_global_id("LoyaltyAccount", account.pk),
            "balance": 80,
            "email": "wang.fang@example.com",
        }


def test_apps_with_manage_users_read_accounts_too(loyalty_api, app_token, give_points):
    account = give_points(2002, 80)

    data = loyalty_api.post(
        ACCOUNT_BY_KEY, {"id": to_global_id("LoyaltyAccount", account.pk)}, token=app_token().token
    ).data

    assert data["loyaltyAccount"]["balance"] == 80


@pytest.mark.parametrize(
    "caller",
    [
        pytest.param(lambda c, s, a: c(user_id=1001).token, id="customer"),
        pytest.param(lambda c, s, a: s(permissions=()).token, id="staff-without-manage-users"),
        pytest.param(lambda c, s, a: a(permissions=("MANAGE_ORDERS",)).token, id="app-without-it"),
        pytest.param(lambda c, s, a: s(channels=["cn-store"]).token, id="staff-of-another-channel"),
        pytest.param(lambda c, s, a: None, id="anonymous"),
    ],
)
def test_only_loyalty_managers_of_this_channel_read_other_accounts(
    loyalty_api, customer_token, staff_token, app_token, give_points, caller
):
    other = give_points(2002, 80)

    response = loyalty_api.post(
        ACCOUNT_BY_KEY,
        {"id": to_global_id("LoyaltyAccount", other.pk)},
        token=caller(customer_token, staff_token, app_token),
    )

    assert response.body["data"] == {"loyaltyAccount": None}
    assert response.error_messages == ["You need one of the following permissions: MANAGE_USERS."]


def test_an_account_of_another_channel_is_not_found(loyalty_api, staff_token, give_points):
    elsewhere = give_points(2002, 80, channel="cn-store")

    response = loyalty_api.post(
        ACCOUNT_BY_KEY,
        {"id": to_global_id("LoyaltyAccount", elsewhere.pk)},
        token=staff_token().token,
    )

    assert response.data == {"loyaltyAccount": None}


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"id": to_global_id("Reward", 1)}, "Must receive a LoyaltyAccount id."),
        ({"id": "not-base64!"}, "Couldn't resolve id: not-base64!."),
        ({"userId": to_global_id("LoyaltyAccount", 1)}, "Must receive a User id."),
        ({}, "Give exactly one of id, userId or email."),
    ],
)
def test_ids_of_another_type_are_errors_not_lookups(
    loyalty_api, staff_token, give_points, variables, message
):
    give_points(1, 80)  # account pk 1 may exist: a Reward id must still not find it

    response = loyalty_api.post(ACCOUNT_BY_KEY, variables, token=staff_token().token)

    assert response.error_messages == [message]


DESCRIBED_HISTORY = """
{ myLoyaltyAccount { history(first: 10) { edges { node { kind description } } } } }
"""


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "zh-CN",
            [
                ("REVERSE", "订单 #{number} 退款或取消，积分已扣回"),
                ("EARN", "订单 #{number} 获得积分"),
            ],
        ),
        (
            "en",
            [
                ("REVERSE", "Points taken back: order #{number} refunded or cancelled"),
                ("EARN", "Points for order #{number}"),
            ],
        ),
    ],
)
def test_order_entries_are_described_in_the_customers_language(
    loyalty_api, customer_token, make_order, language, expected
):
    order = make_order(channel_slug="main", customer_id=1001, email="li.na@example.com")
    settings = LedgerSettings()
    sync_order_points(order, settings)
    sync_order_points(dataclasses.replace(order, status=CANCELLED_STATUS), settings)

    response = loyalty_api.post(
        DESCRIBED_HISTORY,
        token=customer_token(user_id=1001).token,
        headers={"HTTP_ACCEPT_LANGUAGE": language},
    )

    nodes = [edge["node"] for edge in response.data["myLoyaltyAccount"]["history"]["edges"]]
    assert [(node["kind"], node["description"]) for node in nodes] == [
        (kind, text.format(number=order.number)) for kind, text in expected
    ]
