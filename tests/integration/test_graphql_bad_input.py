"""Bad input gets a structured 400 naming what is wrong, never a 500, and changes nothing.

Each example of issue 7 (items 9-12) is a test here, with the answer a caller should see.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from saleor_retention_plugin.graphql.ids import to_global_id
from saleor_retention_plugin.models import (
    CustomerProfile,
    LoyaltyAccount,
    PointsEntry,
    Redemption,
    Reward,
)
from saleor_retention_plugin.services import mall

pytestmark = pytest.mark.django_db

REWARDS_PAGE = "query($f: Int){ rewards(first: $f){ edges{ cursor } } }"
CREATE_REWARD = """
mutation Create($input: RewardInput!) {
  rewardCreate(input: $input) { errors { field code message } reward { id } }
}
"""
CREATE_WITH_DECIMAL = """
mutation Create($value: Decimal) {
  rewardCreate(input: {kind: FIXED_DISCOUNT, name: [{languageCode: "en", text: "5 off"}],
                       pointsCost: 50, discountValue: $value}) {
    errors { field code message } reward { id }
  }
}
"""
REWARD_INPUT = {
    "kind": "FIXED_DISCOUNT",
    "name": [{"languageCode": "en", "text": "CNY 5 off"}],
    "pointsCost": 50,
    "discountValue": "5",
}
ADJUST = """
mutation Adjust($input: LoyaltyPointsAdjustInput!) {
  loyaltyPointsAdjust(input: $input) { errors { field code message } account { balance } }
}
"""
REDEEM = """
mutation Redeem($rewardId: ID!, $key: String!) {
  rewardRedeem(rewardId: $rewardId, idempotencyKey: $key) {
    errors { field code message } redemption { id }
  }
}
"""
ACCOUNT_BY_EMAIL = "query($email: String) { loyaltyAccount(email: $email) { balance } }"
ENTITIES = """
query Entities($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on User { loyalty { balance } } }
}
"""
NUL = "ann\x00@example.com"
LONE_SURROGATE = "ann\ud800@example.com"


def assert_structured_refusal(response, status=400):
    assert response.status == status, response.body
    assert "data" not in response.body or response.body["data"] is None
    assert response.body["errors"], response.body
    for error in response.body["errors"]:
        assert isinstance(error["message"], str)
        assert error["message"]


# --- item 9: variables outside their types, a pathological body -----------------------------


def test_an_int_variable_beyond_32_bits_is_refused_for_anyone(loyalty_api):
    response = loyalty_api.post(REWARDS_PAGE, {"f": 2147483648})

    assert_structured_refusal(response)
    assert response.error_messages == [
        "Variable $f got 2147483648: send a whole number from -2147483648 to 2147483647 "
        "(GraphQL's Int is 32 bits)."
    ]
    assert response.body["errors"][0]["extensions"]["field"] == "f"


def test_the_largest_32_bit_int_is_still_an_int(loyalty_api):
    response = loyalty_api.post(REWARDS_PAGE, {"f": 2147483647})

    # Read, and then refused by the page size rule, not by the type check.
    assert response.status == 200
    assert response.error_messages == ["'first' must be between 1 and 100; 2147483647 was given."]


@pytest.mark.parametrize("value", ["abc", "", "1,5", "NaN", "Infinity", True, {"a": 1}])
@pytest.mark.parametrize("caller", ["anonymous", "staff"])
def test_a_decimal_variable_that_is_not_a_number_is_refused_before_anything_runs(
    loyalty_api, staff_token, django_assert_num_queries, caller, value
):
    token = staff_token().token if caller == "staff" else None

    with django_assert_num_queries(0):
        response = loyalty_api.post(CREATE_WITH_DECIMAL, {"value": value}, token=token)

    assert_structured_refusal(response)
    [message] = response.error_messages
    assert message.startswith(f"Variable $value got {json.dumps(value)}: send a number as text")
    assert not Reward.objects.exists()


@pytest.mark.parametrize("literal", ['"abc"', '""', '"1,5"'])
def test_a_decimal_literal_that_is_not_a_number_is_refused_too(loyalty_api, staff_token, literal):
    query = CREATE_WITH_DECIMAL.replace("($value: Decimal)", "").replace("$value", literal)

    response = loyalty_api.post(query, token=staff_token().token)

    assert_structured_refusal(response)
    assert 'Expected type "Decimal"' in response.error_messages[0]
    assert not Reward.objects.exists()


def test_a_decimal_variable_that_is_a_number_still_works(loyalty_api, staff_token):
    response = loyalty_api.post(CREATE_WITH_DECIMAL, {"value": "5.50"}, token=staff_token().token)

    assert response.data["rewardCreate"]["errors"] == []
    assert Reward.objects.get().discount_value == pytest.approx(5.5)


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        (
            "query($all: Boolean) { rewards(includeUnavailable: $all) { edges { cursor } } }",
            {"all": "false"},
            'Variable $all got "false": send true or false.',
        ),
        (ACCOUNT_BY_EMAIL, {"email": {"a": 1}}, 'Variable $email got {"a": 1}: send a string.'),
        (ACCOUNT_BY_EMAIL, {"email": 5}, "Variable $email got 5: send a string."),
        (
            "query($id: ID!) { reward(id: $id) { id } }",
            {"id": [1]},
            "Variable $id got [1]: send an id (a string).",
        ),
    ],
)
def test_strings_ids_and_booleans_are_not_read_from_other_json_types(
    loyalty_api, staff_token, query, variables, message
):
    # graphql-core 2 would read "false" as true and {"a": 1} as the text "{'a': 1}".
    response = loyalty_api.post(query, variables, token=staff_token().token)

    assert_structured_refusal(response)
    assert response.error_messages == [message]


def test_a_body_of_five_thousand_brackets_is_a_structured_400(loyalty_api):
    response = loyalty_api.post("", raw_body="[" * 5000)

    assert_structured_refusal(response)
    assert response.error_messages == ["The JSON body nests too deeply."]


def test_variables_nested_deeper_than_any_input_are_refused(loyalty_api):
    deep: object = 1
    for _ in range(50):
        deep = [deep]

    response = loyalty_api.post(REWARDS_PAGE, {"f": deep})

    assert_structured_refusal(response)
    assert "nest deeper than 20 levels" in response.error_messages[0]


def failing_requestor(request, channel_slug):
    raise RuntimeError("the token service is down")


def test_an_unexpected_failure_is_logged_and_answered_as_a_structured_400(
    loyalty_api, settings, caplog
):
    settings.RETENTION_GRAPHQL_REQUESTOR_RESOLVER = (
        "tests.integration.test_graphql_bad_input.failing_requestor"
    )

    with caplog.at_level(logging.ERROR):
        response = loyalty_api.post("{ membershipTiers { code } }")

    assert_structured_refusal(response)
    assert response.error_messages == ["Internal error; nothing changed."]
    assert "the token service is down" not in json.dumps(response.body)
    assert any("Loyalty API request failed" in record.message for record in caplog.records)


def test_a_query_answered_with_an_error_creates_no_account_for_a_newcomer(
    loyalty_api, customer_token
):
    newcomer = customer_token(user_id=2002, email="new@example.com")
    query = "{ myLoyaltyAccount { balance history(first: 0) { edges { cursor } } } }"

    response = loyalty_api.post(query, token=newcomer.token)

    assert response.error_messages == ["'first' must be between 1 and 100; 0 was given."]
    assert not LoyaltyAccount.objects.exists()
    # The same read without the mistake opens the account, as a first visit does.
    assert loyalty_api.post("{ myLoyaltyAccount { balance } }", token=newcomer.token).data == {
        "myLoyaltyAccount": {"balance": 0}
    }
    assert LoyaltyAccount.objects.get().customer_id == 2002


def test_a_refused_redemption_opens_no_account_for_a_newcomer(loyalty_api, customer_token):
    # Found by the fuzz test: the account was opened before the key was checked.
    newcomer = customer_token(user_id=2002, email="new@example.com")
    reward = mall.create_reward(
        "main", kind="fixed_discount", name={"en": "5 off"}, points_cost=1, discount_value="5"
    )

    response = loyalty_api.post(
        REDEEM, {"rewardId": to_global_id("Reward", reward.pk), "key": ""}, token=newcomer.token
    )

    assert [e["field"] for e in response.data["rewardRedeem"]["errors"]] == ["idempotencyKey"]
    assert not LoyaltyAccount.objects.exists()
    assert not Redemption.objects.exists()


def test_a_misconfigured_requestor_seam_is_a_structured_400_too(loyalty_api, settings, caplog):
    settings.RETENTION_GRAPHQL_REQUESTOR_RESOLVER = "tests.integration.no_such_module.resolve"

    with caplog.at_level(logging.ERROR):
        response = loyalty_api.post("{ membershipTiers { code } }")

    assert_structured_refusal(response)
    assert response.error_messages == ["Internal error; nothing changed."]
    assert any("misconfigured" in record.message for record in caplog.records)


# --- item 10: NUL and lone surrogates in any string ------------------------------------------


@pytest.mark.parametrize("bad", [NUL, LONE_SURROGATE], ids=["nul", "lone-surrogate"])
def test_an_adjustment_reason_that_cannot_be_stored_is_a_field_error(
    loyalty_api, staff_token, shop_user, bad
):
    shop_user(1001)
    variables = {"input": {"userId": to_global_id("User", 1001), "points": 5, "reason": bad}}

    response = loyalty_api.post(ADJUST, variables, token=staff_token().token)

    assert_structured_refusal(response)
    [error] = response.body["errors"]
    assert error["extensions"]["field"] == "reason"
    assert error["message"].startswith("Variable $input.reason contains")
    assert not PointsEntry.objects.exists()
    assert not LoyaltyAccount.objects.exists()


@pytest.mark.parametrize("bad", [NUL, LONE_SURROGATE], ids=["nul", "lone-surrogate"])
def test_an_idempotency_key_that_cannot_be_stored_is_a_field_error(
    loyalty_api, customer_token, bad
):
    reward = mall.create_reward(
        "main", kind="fixed_discount", name={"en": "5 off"}, points_cost=1, discount_value="5"
    )

    response = loyalty_api.post(
        REDEEM,
        {"rewardId": to_global_id("Reward", reward.pk), "key": bad},
        token=customer_token().token,
    )

    assert_structured_refusal(response)
    assert response.body["errors"][0]["extensions"]["field"] == "key"
    assert not Redemption.objects.exists()
    assert not LoyaltyAccount.objects.exists()


@pytest.mark.parametrize("bad", [NUL, LONE_SURROGATE], ids=["nul", "lone-surrogate"])
def test_an_email_that_cannot_be_stored_is_a_field_error(loyalty_api, staff_token, bad):
    response = loyalty_api.post(ACCOUNT_BY_EMAIL, {"email": bad}, token=staff_token().token)

    assert_structured_refusal(response)
    assert response.body["errors"][0]["extensions"]["field"] == "email"


@pytest.mark.parametrize("bad", [NUL, LONE_SURROGATE], ids=["nul", "lone-surrogate"])
def test_an_entity_representation_that_cannot_be_stored_is_a_field_error(
    loyalty_api, staff_token, bad
):
    representations = [{"__typename": "User", "email": "ok@example.com"}]
    representations.append({"__typename": "User", "email": bad})

    response = loyalty_api.post(
        ENTITIES, {"representations": representations}, token=staff_token().token
    )

    assert_structured_refusal(response)
    [error] = response.body["errors"]
    assert error["extensions"]["path"] == "$representations[1].email"


def test_a_nul_escaped_in_a_query_literal_is_refused(loyalty_api, staff_token):
    query = '{ loyaltyAccount(email: "ann\\u0000@example.com") { balance } }'

    response = loyalty_api.post(query, token=staff_token().token)

    assert_structured_refusal(response)
    assert "contains a NUL character" in response.error_messages[0]


# --- item 11: moments Python cannot read back ------------------------------------------------


@pytest.mark.parametrize(
    ("field", "moment"),
    [
        ("activeFrom", "0001-01-01T00:00:00+05:00"),
        ("activeUntil", "9999-12-31T23:59:59-05:00"),
        ("activeUntil", "2201-01-01T00:00:00+00:00"),
        ("activeFrom", "1969-12-31T23:59:59+00:00"),
        ("activeFrom", "not a date"),
    ],
)
def test_reward_moments_outside_1970_to_2200_are_refused_and_nothing_is_created(
    loyalty_api, staff_token, field, moment
):
    response = loyalty_api.post(
        CREATE_REWARD, {"input": {**REWARD_INPUT, field: moment}}, token=staff_token().token
    )

    assert_structured_refusal(response)
    [error] = response.body["errors"]
    assert error["extensions"]["field"] == field
    assert "from 1970 to 2200" in error["message"]
    assert not Reward.objects.exists()


def test_reward_moments_within_the_range_are_kept(loyalty_api, staff_token):
    variables = {
        "input": {
            **REWARD_INPUT,
            "activeFrom": "2026-01-01T00:00:00+08:00",
            "activeUntil": "2199-12-31T23:59:59+08:00",
        }
    }

    response = loyalty_api.post(CREATE_REWARD, variables, token=staff_token().token)

    assert response.data["rewardCreate"]["errors"] == []
    active_until = Reward.objects.get().active_until
    assert active_until is not None
    assert active_until.year == 2199


def test_one_reward_python_cannot_read_back_does_not_break_the_lists(
    loyalty_api, customer_token, staff_token
):
    def create(name):
        return mall.create_reward(
            "main", kind="fixed_discount", name={"en": name}, points_cost=1, discount_value="5"
        )

    good, broken = create("Good"), create("Broken")
    # Written before input was checked (or by hand): year 10000 once read in UTC.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Reward._meta.db_table} SET active_until = %s WHERE id = %s",
            ["9999-12-31T23:59:59-05:00", broken.pk],
        )
    listing = "query($all: Boolean) { rewards(includeUnavailable: $all) { edges { node { id } } } }"

    for token, everything in ((customer_token().token, False), (staff_token().token, True)):
        response = loyalty_api.post(listing, {"all": everything}, token=token)
        ids = [edge["node"]["id"] for edge in response.data["rewards"]["edges"]]
        assert ids == [to_global_id("Reward", good.pk)]

    # And staff can still delete it (the issue: rewardDelete answered "Internal error").
    deleted = loyalty_api.post(
        "mutation($id: ID!) { rewardDelete(id: $id) { errors { field code } deleted } }",
        {"id": to_global_id("Reward", broken.pk)},
        token=staff_token().token,
    )
    assert deleted.data["rewardDelete"] == {"errors": [], "deleted": True}
    assert list(Reward.objects.values_list("pk", flat=True)) == [good.pk]


# --- item 12: work bounded before it starts --------------------------------------------------


def _birthday_aliases(count: int) -> str:
    aliases = " ".join(f"b{n}: birthday {{ month }}" for n in range(count))
    return (
        "query($r: [_Any!]!) { _entities(representations: $r) "
        f"{{ ... on User {{ loyalty {{ {aliases} }} }} }} }}"
    )


@pytest.mark.parametrize(
    ("aliases", "refusal"),
    [
        # The example: 402 fields, refused before validation even starts.
        (200, "The query holds more than 300 fields and fragments"),
        # Fewer fields, and still 100 loyalty fields + 100 x 140 birthdays to read.
        (140, "The operation may read up to 14100 rows or database fields; the limit is 1000"),
    ],
)
def test_entities_times_aliases_of_a_database_field_are_refused_before_running(
    loyalty_api, customer_token, django_assert_num_queries, aliases, refusal
):
    me = customer_token(user_id=1001, email="li.na@example.com")
    query = _birthday_aliases(aliases)
    representations = [{"__typename": "User", "id": me.global_user_id}] * 100
    assert len(query) <= 5_000

    with django_assert_num_queries(0):
        response = loyalty_api.post(query, {"r": representations}, token=me.token)

    assert_structured_refusal(response)
    [message] = response.error_messages
    assert message.startswith(refusal)


def test_one_field_repeated_thousands_of_times_is_refused_before_validation(
    loyalty_api, django_assert_num_queries
):
    # graphql-core compares every pair of same-named fields: 2,400 repeats took seconds.
    query = "{ myLoyaltyAccount { " + " balance" * 2_400 + " } }"
    assert len(query) <= 20_000

    with django_assert_num_queries(0):
        response = loyalty_api.post(query)

    assert_structured_refusal(response)
    assert response.error_messages[0].startswith("The query holds more than 300 fields")


def test_repeating_a_field_does_not_repeat_its_database_work(loyalty_api, customer_token):
    me = customer_token(user_id=1001, email="li.na@example.com")
    CustomerProfile.objects.create(
        customer_id=1001, birth_month=5, birth_day=4, birthday_set_at=timezone.now()
    )
    once = "{ myLoyaltyAccount { birthday { month } tier { code } spendablePoints } }"
    ten = (
        "{ "
        + " ".join(
            f"a{n}: myLoyaltyAccount {{ birthday {{ month }} tier {{ code }} spendablePoints }}"
            for n in range(10)
        )
        + " }"
    )
    loyalty_api.post(once, token=me.token)  # the account exists from here on

    with CaptureQueriesContext(connection) as counted_once:
        assert loyalty_api.post(once, token=me.token).data["myLoyaltyAccount"]["birthday"] == {
            "month": 5
        }
    with CaptureQueriesContext(connection) as counted_ten:
        data = loyalty_api.post(ten, token=me.token).data
    assert {json.dumps(value) for value in data.values()} == {
        json.dumps(loyalty_api.post(once, token=me.token).data["myLoyaltyAccount"])
    }
    assert len(counted_ten) == len(counted_once)


INTROSPECTION = """
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name }
    types { ...FullType }
    directives { name locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}
"""


def test_anonymous_callers_may_introspect_the_schema_once_per_request(loyalty_api):
    response = loyalty_api.post(INTROSPECTION)

    types = {t["name"] for t in response.data["__schema"]["types"]}
    assert {"LoyaltyAccount", "Reward", "Decimal", "DateTime"} <= types
    assert len(json.dumps(response.body)) < 400_000


def test_introspection_repeated_by_aliases_is_refused_before_running(loyalty_api):
    repeated = "{ " + " ".join(f"s{n}: __schema {{ types {{ name }} }}" for n in range(5)) + " }"
    inside = "{ __schema { " + " ".join(f"t{n}: types {{ name }}" for n in range(100)) + " } }"
    many_types = "{ " + " ".join(f't{n}: __type(name: "Reward") {{ name }}' for n in range(11))

    assert loyalty_api.post(repeated).error_messages == ["Ask for __schema once per operation."]
    assert loyalty_api.post(inside).error_messages == [
        "Aliases are not allowed inside __schema: ask for each introspection field once."
    ]
    assert "selects 11 top-level fields" in loyalty_api.post(many_types + " }").error_messages[0]


def test_the_gateway_still_reads_the_sdl_anonymously(loyalty_api):
    sdl = loyalty_api.post("{ _service { sdl } }").data["_service"]["sdl"]

    assert "extend type User" in sdl
