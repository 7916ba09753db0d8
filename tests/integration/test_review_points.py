"""A review earns points once per review id; removing it takes them back once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.domain.care import CareStepKind
from saleor_retention_plugin.graphql.requestor import MANAGE_USERS
from saleor_retention_plugin.models import (
    LoyaltyAccount,
    PointsEntry,
    PurchasedOrder,
    ReviewAward,
    SatisfactionRating,
)
from saleor_retention_plugin.services import ledger
from saleor_retention_plugin.services.care import (
    ReviewPointsOff,
    award_review_points,
    care_step_still_due,
    revoke_review_points,
)
from saleor_retention_plugin.services.errors import InvalidInput, NotFound

pytestmark = pytest.mark.django_db

CHANNEL = "main"
REVIEWS = ChannelSettings.from_configuration({"review_points": "50"})

AWARD = """
mutation Award($customerId: ID!, $reviewId: String!) {
  reviewPointsAward(customerId: $customerId, reviewId: $reviewId) {
    award { reviewId customerId points takenBack revokedAt }
    errors { field code message }
  }
}
"""
REVOKE = """
mutation Revoke($reviewId: String!) {
  reviewPointsRevoke(reviewId: $reviewId) {
    award { reviewId points takenBack revokedAt }
    errors { field code message }
  }
}
"""


def balance(customer_id: int) -> int:
    return LoyaltyAccount.objects.get(channel_slug=CHANNEL, customer_id=customer_id).balance


def award(review_id: str = "r-1", customer_id: int = 42, settings=REVIEWS):
    return award_review_points(CHANNEL, customer_id, review_id, settings=settings, actor="app:7")


def test_a_review_earns_the_configured_points_once():
    first = award()
    again = award()

    assert first.pk == again.pk
    assert (first.points, first.customer_id) == (50, 42)
    assert balance(42) == 50
    entry = PointsEntry.objects.get(idempotency_key="review:main:r-1")
    assert (entry.points, entry.actor) == (50, "app:7")


def test_each_review_earns_separately():
    award("r-1")
    award("r-2")
    assert balance(42) == 100


def test_the_same_review_cannot_earn_for_another_customer():
    award("r-1", customer_id=42)
    with pytest.raises(InvalidInput) as refused:
        award("r-1", customer_id=43)
    assert refused.value.field == "customerId"
    assert not LoyaltyAccount.objects.filter(customer_id=43).exists()


def test_nothing_is_given_when_the_channel_gives_no_review_points():
    with pytest.raises(ReviewPointsOff):
        award(settings=ChannelSettings())
    assert not ReviewAward.objects.exists()
    assert not PointsEntry.objects.exists()


@pytest.mark.parametrize("review_id", ["", "   ", "x" * 256, None, 12])
def test_a_missing_or_overlong_review_id_is_refused(review_id):
    with pytest.raises(InvalidInput) as refused:
        award(review_id)
    assert refused.value.field == "reviewId"
    assert not PointsEntry.objects.exists()


def test_removing_the_review_takes_its_points_back_once():
    award()
    removed = revoke_review_points(CHANNEL, "r-1", settings=REVIEWS, actor="app:7")
    again = revoke_review_points(CHANNEL, "r-1", settings=REVIEWS, actor="app:7")

    assert (removed.taken_back, again.taken_back) == (50, 50)
    assert removed.revoked_at == again.revoked_at
    assert balance(42) == 0
    # A removed review does not earn again.
    assert award().revoked_at is not None
    assert balance(42) == 0


def test_points_already_spent_stay_spent_when_the_review_is_removed():
    award()
    account = LoyaltyAccount.objects.get(customer_id=42)
    ledger.spend_points(account.pk, 30, idempotency_key="spend-1", reason="mall")

    removed = revoke_review_points(CHANNEL, "r-1", settings=REVIEWS, actor="staff:1")

    assert removed.taken_back == 20
    assert balance(42) == 0


def test_removing_a_review_that_earned_nothing_is_refused():
    with pytest.raises(NotFound):
        revoke_review_points(CHANNEL, "nope", settings=REVIEWS, actor="app:7")


@pytest.fixture
def api(loyalty_api, django_user_model):
    django_user_model.objects.create(id=42, username="ann")
    loyalty_api.channel_settings = REVIEWS
    return loyalty_api


def test_staff_award_through_the_api_idempotently(api, staff_token, customer_token):
    staff = staff_token()
    customer = customer_token(user_id=42)
    variables = {"customerId": customer.global_user_id, "reviewId": "r-9"}

    first = api.post(AWARD, variables, token=staff.token).data["reviewPointsAward"]
    second = api.post(AWARD, variables, token=staff.token).data["reviewPointsAward"]

    assert first == second
    assert first["errors"] == []
    assert first["award"]["points"] == 50
    assert first["award"]["customerId"] == customer.global_user_id
    assert balance(42) == 50


def test_an_app_with_manage_users_may_award(api, app_token, customer_token):
    variables = {"customerId": customer_token(user_id=42).global_user_id, "reviewId": "r-9"}
    result = api.post(AWARD, variables, token=app_token().token).data["reviewPointsAward"]
    assert result["errors"] == []
    assert balance(42) == 50


def test_customers_and_staff_without_permission_are_refused(api, customer_token, staff_token):
    customer = customer_token(user_id=42)
    variables = {"customerId": customer.global_user_id, "reviewId": "r-9"}

    for token in (customer.token, staff_token(permissions=()).token, None):
        result = api.post(AWARD, variables, token=token).data["reviewPointsAward"]
        assert result["award"] is None
        assert result["errors"][0]["code"] in {"PERMISSION_DENIED", "UNAUTHENTICATED"}
    assert not ReviewAward.objects.exists()
    assert not PointsEntry.objects.exists()


def test_bad_input_comes_back_as_field_errors(api, staff_token, customer_token):
    staff = staff_token(permissions=(MANAGE_USERS,))
    bad_user = api.post(AWARD, {"customerId": "nonsense", "reviewId": "r-1"}, token=staff.token)
    unknown_user = api.post(
        AWARD,
        {"customerId": customer_token(user_id=4242).global_user_id, "reviewId": "r-1"},
        token=staff.token,
    )
    empty_review = api.post(
        AWARD,
        {"customerId": customer_token(user_id=42).global_user_id, "reviewId": " "},
        token=staff.token,
    )
    unknown_review = api.post(REVOKE, {"reviewId": "never"}, token=staff.token)

    assert bad_user.data["reviewPointsAward"]["errors"][0]["field"] == "customerId"
    assert unknown_user.data["reviewPointsAward"]["errors"][0]["code"] == "NOT_FOUND"
    assert empty_review.data["reviewPointsAward"]["errors"][0]["field"] == "reviewId"
    assert unknown_review.data["reviewPointsRevoke"]["errors"][0]["code"] == "NOT_FOUND"
    assert not PointsEntry.objects.exists()


def test_staff_remove_a_review_through_the_api(api, staff_token, customer_token):
    staff = staff_token()
    variables = {"customerId": customer_token(user_id=42).global_user_id, "reviewId": "r-9"}
    api.post(AWARD, variables, token=staff.token)

    result = api.post(REVOKE, {"reviewId": "r-9"}, token=staff.token).data["reviewPointsRevoke"]

    assert result["errors"] == []
    assert result["award"]["takenBack"] == 50
    assert result["award"]["revokedAt"]
    assert balance(42) == 0


# --- is a care step still due (asked at send time) ---------------------------------------------


def purchased(order_id: str, *, counts: bool = True, amount: str = "50.00") -> None:
    PurchasedOrder.objects.create(
        order_id=order_id,
        channel_slug=CHANNEL,
        customer_key="customer:42",
        customer_id=42,
        placed_at=timezone.now(),
        status="fulfilled" if counts else "canceled",
        counts=counts,
        currency="USD",
        net_goods_amount=Decimal(amount),
    )


def test_care_steps_stop_for_cancelled_refunded_unknown_or_rated_orders(
    django_assert_num_queries,
):
    purchased("kept")
    purchased("cancelled", counts=False)
    purchased("refunded", amount="0")

    with django_assert_num_queries(1):  # the order with whether it was rated
        assert care_step_still_due("kept", CareStepKind.SATISFACTION)
    assert care_step_still_due("kept", CareStepKind.COUPON)
    for order_id in ("cancelled", "refunded", "never-seen"):
        assert not care_step_still_due(order_id, CareStepKind.REVIEW)

    SatisfactionRating.objects.create(
        channel_slug=CHANNEL, order_id="kept", customer_id=42, score=4, rated_at=timezone.now()
    )
    assert not care_step_still_due("kept", CareStepKind.SATISFACTION)
    assert care_step_still_due("kept", CareStepKind.REVIEW)
