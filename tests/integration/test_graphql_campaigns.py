"""The staff campaign API: schedule, preview, cancel, list; refusals change nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from saleor_retention_plugin.graphql.ids import to_global_id
from saleor_retention_plugin.models import Campaign, CampaignState, CustomerSegment, PurchasedOrder
from saleor_retention_plugin.services import consent

pytestmark = pytest.mark.django_db

CHANNEL = "main"
SEND_AT = "2031-01-10T10:00"  # the API's clock is the real one: far enough ahead

SCHEDULE = """
mutation Schedule($input: CampaignInput!) {
  campaignSchedule(input: $input) {
    campaign { id name segment channel sendAt state template subject couponDiscount
               holdoutPercent variantB }
    errors { field code message }
  }
}
"""
CANCEL = """
mutation Cancel($id: ID!) {
  campaignCancel(id: $id) { campaign { id state } errors { field code message } }
}
"""
PREVIEW = """
query Preview($id: ID, $input: CampaignInput, $first: Int) {
  campaignPreview(id: $id, input: $input, first: $first) {
    recipientCount heldOut
    recipients { customerId email language timezone sendAt variant }
    messages { language subject text html }
    errors { field code message }
  }
}
"""
LIST = "{ campaigns { id name state sendAt } }"


def member(n, *, high_value=True):
    key = f"customer:{n}"
    CustomerSegment.objects.create(
        channel_slug=CHANNEL, customer_key=key, segment="active", cycle_days=30, orders=2,
        revenue=Decimal("300.00"), currency="CNY", first_order_on=date(2025, 6, 1),
        last_order_on=date(2026, 2, 1), recency_score=4, frequency_score=4, monetary_score=4,
        discount_share=Decimal("0"), discount_driven=False, high_value=high_value,
        as_of=date(2026, 2, 28), computed_at=datetime(2026, 3, 1, tzinfo=UTC),
    )  # fmt: skip
    PurchasedOrder.objects.create(
        order_id=str(uuid.uuid4()), channel_slug=CHANNEL, customer_key=key, customer_id=n,
        email=f"c{n}@example.com", placed_at=datetime(2026, 2, 1, tzinfo=UTC),
        status="fulfilled", currency="CNY", net_goods_amount=Decimal("150.00"),
    )  # fmt: skip


def schedule_input(**changes):
    return {
        "name": "Festival",
        "segment": "high_value",
        "sendAt": SEND_AT,
        "template": "festival_greeting",
        "couponDiscount": "15%",
        "holdoutPercent": "0",
        **changes,
    }


def schedule(loyalty_api, token, **changes):
    return loyalty_api.post(SCHEDULE, {"input": schedule_input(**changes)}, token=token).data[
        "campaignSchedule"
    ]


def test_staff_schedule_list_preview_and_cancel(loyalty_api, staff_token):
    for n in (1, 2, 3):
        member(n)
    member(4, high_value=False)
    consent.record_opt_out(CHANNEL, email="c2@example.com", customer_id=2)
    token = staff_token().token

    result = schedule(loyalty_api, token)
    assert result["errors"] == []
    stored = Campaign.objects.get()
    assert result["campaign"]["id"] == to_global_id("Campaign", stored.pk)
    assert (result["campaign"]["sendAt"], result["campaign"]["state"]) == (SEND_AT, "scheduled")
    assert (stored.segment, stored.coupon_discount, stored.created_by) == (
        "high_value",
        "15%",
        "user:9001",
    )

    listed = loyalty_api.post(LIST, token=token).data["campaigns"]
    assert [row["name"] for row in listed] == ["Festival"]

    preview = loyalty_api.post(
        PREVIEW, {"id": result["campaign"]["id"], "first": 1}, token=token
    ).data["campaignPreview"]
    assert preview["errors"] == []
    assert (preview["recipientCount"], preview["heldOut"]) == (2, 0)  # 1 and 3; 2 opted out
    assert [r["email"] for r in preview["recipients"]] == ["c1@example.com"]
    assert preview["recipients"][0]["sendAt"].startswith("2031-01-10T10:00")  # the shop's UTC
    by_language = {m["language"]: m for m in preview["messages"]}
    assert by_language["en"]["subject"] == "Season's greetings from us"
    assert by_language["zh-Hans"]["subject"] == "节日快乐,感谢有您"
    assert "SAMPLE-CODE" in by_language["en"]["text"]
    assert 'lang="zh-Hans"' in by_language["zh-Hans"]["html"]

    cancelled = loyalty_api.post(CANCEL, {"id": result["campaign"]["id"]}, token=token).data[
        "campaignCancel"
    ]
    assert cancelled["errors"] == []
    assert Campaign.objects.get().state == CampaignState.CANCELLED
    again = loyalty_api.post(CANCEL, {"id": result["campaign"]["id"]}, token=token).data[
        "campaignCancel"
    ]
    assert again["errors"][0]["field"] == "id"


def test_a_preview_of_an_unsaved_campaign_renders_the_merchants_text(loyalty_api, staff_token):
    member(1)
    custom = schedule_input(
        template="custom",
        subject='{"en": "For our {tier} members", "zh-Hans": "献给{tier}会员"}',
        body='{"en": "You hold {points} points.", "zh-Hans": "您有 {points} 积分。"}',
    )
    preview = loyalty_api.post(PREVIEW, {"input": custom}, token=staff_token().token).data[
        "campaignPreview"
    ]
    by_language = {m["language"]: m for m in preview["messages"]}
    assert by_language["en"]["subject"] == "For our Gold members"
    assert "You hold 1200 points." in by_language["en"]["text"]
    assert by_language["zh-Hans"]["subject"] == "献给黄金会员"
    assert preview["recipientCount"] == 1
    assert not Campaign.objects.exists()  # a preview writes nothing


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"segment": "whales"}, "segment"),
        ({"sendAt": "2020-01-01T10:00"}, "sendAt"),
        ({"sendAt": "2031-01-10T10:00+08:00"}, "sendAt"),
        ({"sendAt": "next tuesday"}, "sendAt"),
        (
            {"template": "custom", "subject": '{"en": "Hi {nickname}"}', "body": '{"en": "x"}'},
            "subject",
        ),
        ({"holdoutPercent": "75"}, "holdoutPercent"),
    ],
)
def test_bad_input_is_a_field_error_and_changes_nothing(loyalty_api, staff_token, changes, field):
    member(1)
    result = schedule(loyalty_api, staff_token().token, **changes)
    assert result["campaign"] is None
    assert field in {error["field"] for error in result["errors"]}
    assert not Campaign.objects.exists()
    preview = loyalty_api.post(
        PREVIEW, {"input": schedule_input(**changes)}, token=staff_token().token
    ).data["campaignPreview"]
    assert field in {error["field"] for error in preview["errors"]}


def test_customers_and_apps_without_manage_users_are_refused(
    loyalty_api, customer_token, app_token, staff_token
):
    member(1)
    for token in (
        customer_token().token,
        app_token(permissions=()).token,
        staff_token(permissions=()).token,
    ):
        result = schedule(loyalty_api, token)
        assert result["campaign"] is None
        assert result["errors"][0]["code"] == "PERMISSION_DENIED"
        listed = loyalty_api.post(LIST, token=token)
        assert listed.body["data"] is None or listed.body["data"].get("campaigns") is None
        assert listed.error_messages
    assert not Campaign.objects.exists()
    assert schedule(loyalty_api, app_token().token)["errors"] == []  # an app with it may
