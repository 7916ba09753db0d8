"""loyaltyPointsAdjust: staff and apps correct balances, with a reason, audited."""

from __future__ import annotations

import pytest

from saleor_retention_plugin.graphql.ids import to_global_id
from saleor_retention_plugin.models import LoyaltyAccount, PointsEntry
from saleor_retention_plugin.services.ledger import MAX_ADJUSTMENT

pytestmark = pytest.mark.django_db

ADJUST = """
mutation Adjust($input: LoyaltyPointsAdjustInput!) {
  loyaltyPointsAdjust(input: $input) {
    errors { field code message }
    account { id balance spendablePoints }
    transaction { kind points reason actor }
  }
}
"""


@pytest.fixture(autouse=True)
def customer_1001(shop_user):
    """The customer most tests adjust: a real user of the shop."""
    return shop_user(1001)


def adjust(api, token, **input_):
    input_.setdefault("reason", "Goodwill for a late parcel")
    return api.post(ADJUST, {"input": input_}, token=token)


def test_staff_adds_points_with_a_reason_and_is_recorded_as_the_actor(loyalty_api, staff_token):
    staff = staff_token(user_id=9001)

    payload = adjust(loyalty_api, staff.token, userId=to_global_id("User", 1001), points=250).data[
        "loyaltyPointsAdjust"
    ]

    assert payload["errors"] == []
    assert payload["account"]["balance"] == payload["account"]["spendablePoints"] == 250
    assert payload["transaction"] == {
        "kind": "ADJUST",
        "points": 250,
        "reason": "Goodwill for a late parcel",
        "actor": "user:9001",
    }
    entry = PointsEntry.objects.get()
    assert (entry.actor, entry.reason) == ("user:9001", "Goodwill for a late parcel")


def test_an_app_takes_points_back_by_account_id(loyalty_api, staff_token, app_token):
    account_id = adjust(
        loyalty_api, staff_token().token, userId=to_global_id("User", 1001), points=100
    ).data["loyaltyPointsAdjust"]["account"]["id"]

    payload = adjust(
        loyalty_api,
        app_token(app_id=7).token,
        accountId=account_id,
        points=-40,
        reason="Duplicate credit",
    ).data["loyaltyPointsAdjust"]

    assert payload["errors"] == []
    assert payload["account"]["balance"] == 60
    assert PointsEntry.objects.filter(actor="app:7", points=-40).exists()


def test_the_same_idempotency_key_adjusts_once(loyalty_api, staff_token):
    staff = staff_token()
    for _ in range(2):
        payload = adjust(
            loyalty_api,
            staff.token,
            userId=to_global_id("User", 1001),
            points=30,
            idempotencyKey="ticket-812",
        ).data["loyaltyPointsAdjust"]
        assert payload["errors"] == []

    assert LoyaltyAccount.objects.get(customer_id=1001).balance == 30


@pytest.mark.parametrize(
    ("points", "code", "message"),
    [
        (0, "INVALID_POINTS", "Enter a whole, non-zero number of points."),
        (
            MAX_ADJUSTMENT + 1,
            "INVALID_POINTS",
            f"Adjust by at most {MAX_ADJUSTMENT} points at once.",
        ),
        (
            -(MAX_ADJUSTMENT + 1),
            "INVALID_POINTS",
            f"Adjust by at most {MAX_ADJUSTMENT} points at once.",
        ),
        (2**31, "INVALID_POINTS", f"Adjust by at most {MAX_ADJUSTMENT} points at once."),
        (10**30, "INVALID_POINTS", f"Adjust by at most {MAX_ADJUSTMENT} points at once."),
        (-50, "INSUFFICIENT_POINTS", "Cannot take 50 points: the balance is 10."),
    ],
)
def test_bad_amounts_are_field_errors_and_change_nothing(
    loyalty_api, staff_token, points, code, message
):
    staff = staff_token()
    adjust(loyalty_api, staff.token, userId=to_global_id("User", 1001), points=10)

    payload = adjust(
        loyalty_api, staff.token, userId=to_global_id("User", 1001), points=points
    ).data["loyaltyPointsAdjust"]

    assert payload["account"] is None
    assert [(e["code"], e["message"]) for e in payload["errors"]] == [(code, message)]
    assert LoyaltyAccount.objects.get(customer_id=1001).balance == 10
    assert PointsEntry.objects.count() == 1


@pytest.mark.parametrize(
    "points",
    [1.5, 1.0, "12", "ten", True, None, [5]],
    ids=["fractional", "float", "numeric-string", "non-numeric", "boolean", "null", "list"],
)
def test_amounts_that_are_not_whole_numbers_are_refused_before_execution(
    loyalty_api, staff_token, points
):
    response = adjust(
        loyalty_api, staff_token().token, userId=to_global_id("User", 1001), points=points
    )

    assert response.status == 400
    # A null is graphql-core's refusal, the rest the endpoint's own check of every variable.
    assert response.error_messages[0].startswith(
        ('Variable "$input" got invalid value', "Variable $input.points got ")
    )
    assert not PointsEntry.objects.exists()


def test_a_fractional_literal_is_refused_too(loyalty_api, staff_token):
    query = (
        'mutation { loyaltyPointsAdjust(input: {userId: "%s", points: 2.5, reason: "x"}) '
        "{ errors { code } } }"
    )
    response = loyalty_api.post(query % to_global_id("User", 1), token=staff_token().token)

    assert response.status == 400
    assert not PointsEntry.objects.exists()


@pytest.mark.parametrize(
    ("input_", "field", "code"),
    [
        ({"reason": "   "}, "reason", "REQUIRED"),
        ({"reason": "x" * 501}, "reason", "INVALID"),
        ({"userId": None}, "accountId", "REQUIRED"),
        ({"accountId": to_global_id("LoyaltyAccount", 1)}, "accountId", "INVALID"),
        ({"userId": to_global_id("Reward", 1001)}, "userId", "INVALID"),
        (
            {"userId": None, "accountId": to_global_id("LoyaltyAccount", 999_999)},
            "accountId",
            "NOT_FOUND",
        ),
    ],
)
def test_bad_input_is_a_field_error(loyalty_api, staff_token, input_, field, code):
    values = {"userId": to_global_id("User", 1001), "points": 5, **input_}
    values = {name: value for name, value in values.items() if value is not None}

    payload = adjust(loyalty_api, staff_token().token, **values).data["loyaltyPointsAdjust"]

    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, code)]
    assert not PointsEntry.objects.exists()


@pytest.mark.parametrize(
    ("make_token", "code"),
    [
        (lambda c, s, a: c(user_id=1001).token, "PERMISSION_DENIED"),
        (lambda c, s, a: s(permissions=("MANAGE_ORDERS",)).token, "PERMISSION_DENIED"),
        (lambda c, s, a: a(permissions=()).token, "PERMISSION_DENIED"),
        (lambda c, s, a: s(channels=["cn-store"]).token, "PERMISSION_DENIED"),
        (lambda c, s, a: None, "UNAUTHENTICATED"),
    ],
    ids=[
        "customer",
        "staff-without-manage-users",
        "app-without-it",
        "staff-of-another-channel",
        "anonymous",
    ],
)
def test_only_loyalty_managers_of_this_channel_adjust(
    loyalty_api, customer_token, staff_token, app_token, make_token, code
):
    payload = adjust(
        loyalty_api,
        make_token(customer_token, staff_token, app_token),
        userId=to_global_id("User", 1001),
        points=500,
    ).data["loyaltyPointsAdjust"]

    assert [e["code"] for e in payload["errors"]] == [code]
    assert not PointsEntry.objects.exists()


def test_an_account_of_another_channel_cannot_be_adjusted_here(loyalty_api, staff_token):
    staff = staff_token()
    adjust(loyalty_api, staff.token, userId=to_global_id("User", 1001), points=5)
    other_id = loyalty_api.post(
        ADJUST,
        {"input": {"userId": to_global_id("User", 1001), "points": 5, "reason": "x"}},
        token=staff.token,
        channel="cn-store",
    ).data["loyaltyPointsAdjust"]["account"]["id"]

    payload = adjust(loyalty_api, staff.token, accountId=other_id, points=5).data[
        "loyaltyPointsAdjust"
    ]

    assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"]
    assert LoyaltyAccount.objects.get(channel_slug="cn-store").balance == 5


def test_no_account_is_opened_for_a_user_the_shop_does_not_have(loyalty_api, staff_token):
    payload = adjust(
        loyalty_api, staff_token().token, userId=to_global_id("User", 424242), points=500
    ).data["loyaltyPointsAdjust"]

    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("userId", "NOT_FOUND")]
    assert not LoyaltyAccount.objects.filter(customer_id=424242).exists()
    assert not PointsEntry.objects.exists()


@pytest.mark.parametrize(("directory_says", "opened"), [(True, True), (False, False)])
def test_the_host_decides_who_exists_through_a_setting(
    loyalty_api, staff_token, settings, directory_says, opened
):
    asked = []

    def user_exists(customer_id: int) -> bool:
        asked.append(customer_id)
        return directory_says

    settings.RETENTION_USER_EXISTS = user_exists

    payload = adjust(
        loyalty_api, staff_token().token, userId=to_global_id("User", 77), points=5
    ).data["loyaltyPointsAdjust"]

    assert asked == [77]
    assert (payload["errors"] == []) is opened
    assert LoyaltyAccount.objects.filter(customer_id=77).exists() is opened
