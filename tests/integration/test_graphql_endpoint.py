"""The HTTP side of the loyalty API: methods, bodies, tokens, limits checked before execution."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from saleor_retention_plugin.graphql.limits import MAX_QUERY_DEPTH, MAX_QUERY_SIZE
from saleor_retention_plugin.models import LoyaltyAccount

pytestmark = pytest.mark.django_db

BALANCE = "{ myLoyaltyAccount { balance } }"


def test_get_describes_the_endpoint_and_refuses(loyalty_api):
    response = loyalty_api.get()

    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"
    assert "POST a JSON body" in json.loads(response.content)["description"]


@pytest.mark.parametrize(
    ("raw_body", "message"),
    [
        ("not json", 'Send a JSON body: {"query": ..., "variables": {...}}.'),
        ("[]", "Send one operation as a JSON object; batches are not supported."),
        ('{"variables": {}}', "The body needs a 'query' string."),
        ('{"query": "{ __typename }", "variables": [1]}', "'variables' must be a JSON object."),
    ],
)
def test_malformed_bodies_get_a_clear_400(loyalty_api, raw_body, message):
    response = loyalty_api.post("", raw_body=raw_body)

    assert (response.status, response.error_messages) == (400, [message])


def test_a_syntax_error_is_a_400(loyalty_api):
    response = loyalty_api.post("{ myLoyaltyAccount { balance ")

    assert response.status == 400
    assert "Syntax Error" in response.error_messages[0]


def test_an_unknown_field_is_refused_before_execution(loyalty_api, customer_token):
    response = loyalty_api.post("{ myLoyaltyAccount { password } }", token=customer_token().token)

    assert response.status == 400
    assert response.error_messages == ['Cannot query field "password" on type "LoyaltyAccount".']
    assert not LoyaltyAccount.objects.exists()


def test_an_expired_token_is_a_401_and_reads_nothing(loyalty_api, customer_token):
    with time_machine.travel(timezone.now() - timedelta(hours=1)):
        stale = customer_token().token

    response = loyalty_api.post(BALANCE, token=stale)

    assert response.status == 401
    assert response.body["errors"][0]["extensions"]["exception"]["code"] == "ExpiredSignatureError"
    assert not LoyaltyAccount.objects.exists()


@pytest.mark.parametrize("token", ["garbage", "eyJhbGciOiJIUzI1NiJ9.e30.forged"])
def test_an_invalid_token_is_a_401(loyalty_api, token):
    response = loyalty_api.post(BALANCE, token=token)

    assert (response.status, response.error_messages) == (401, ["Invalid token."])


def test_a_query_over_the_size_limit_is_refused_unread(loyalty_api, customer_token):
    padding = " " * MAX_QUERY_SIZE
    response = loyalty_api.post(
        "{ myLoyaltyAccount { balance } }" + padding, token=customer_token().token
    )

    assert response.status == 400
    assert response.error_messages[0].endswith(f"the limit is {MAX_QUERY_SIZE}.")
    assert not LoyaltyAccount.objects.exists()


def test_a_query_deeper_than_the_limit_is_refused_before_validation(loyalty_api, customer_token):
    nested = "id"
    for level in range(MAX_QUERY_DEPTH + 5):
        nested = f"f{level} {{ {nested} }}"

    response = loyalty_api.post(f"{{ {nested} }}", token=customer_token().token)

    assert response.status == 400
    assert response.error_messages == [
        f"The query 'anonymous' nests deeper than the limit of {MAX_QUERY_DEPTH} levels."
    ]


def test_a_nesting_bomb_is_refused_without_parsing(loyalty_api):
    response = loyalty_api.post("{" + "a {" * 3000 + "}" * 3001)

    assert response.status == 400
    assert response.error_messages == [
        f"The query nests deeper than the limit of {MAX_QUERY_DEPTH} levels."
    ]


def test_the_deepest_real_query_is_within_the_limit(loyalty_api, customer_token):
    me = customer_token(user_id=1001)
    query = """
    query Deep($reps: [_Any!]!) {
      _entities(representations: $reps) {
        ... on User { loyalty { history(first: 1) { edges { node { id } } } } }
      }
    }
    """
    response = loyalty_api.post(
        query, {"reps": [{"__typename": "User", "id": me.global_user_id}]}, token=me.token
    )

    assert response.data["_entities"][0]["loyalty"]["history"]["edges"] == []


def test_depth_follows_fragment_spreads(loyalty_api, customer_token, monkeypatch):
    from saleor_retention_plugin.graphql import limits

    monkeypatch.setattr(limits, "MAX_QUERY_DEPTH", 3)
    query = """
    query Spread { myLoyaltyAccount { ...History } }
    fragment History on LoyaltyAccount { history { edges { node { id } } } }
    """

    response = loyalty_api.post(query, token=customer_token().token)

    assert response.status == 400
    assert response.error_messages == [
        "The query 'Spread' nests deeper than the limit of 3 levels."
    ]
    assert not LoyaltyAccount.objects.exists()


def test_an_unexpected_failure_in_a_mutation_is_an_error_not_a_crash(
    loyalty_api, staff_token, monkeypatch, shop_user
):
    from saleor_retention_plugin.graphql import ledger as ledger_api

    shop_user(1)

    def broken(*args, **kwargs):
        raise RuntimeError("connection details that must not leak")

    monkeypatch.setattr(ledger_api, "adjust_points", broken)
    mutation = """
    mutation { loyaltyPointsAdjust(input: {userId: "VXNlcjox", points: 5, reason: "x"}) {
      errors { field code message } account { id }
    } }
    """

    response = loyalty_api.post(mutation, token=staff_token().token)

    assert response.data["loyaltyPointsAdjust"] == {
        "errors": [
            {"field": None, "code": "GRAPHQL_ERROR", "message": "Internal error; nothing changed."}
        ],
        "account": None,
    }


def test_an_unexpected_failure_in_a_query_hides_its_details(
    loyalty_api, customer_token, monkeypatch
):
    from saleor_retention_plugin.graphql import ledger as ledger_api

    def broken(context):
        raise RuntimeError("connection details that must not leak")

    monkeypatch.setattr(ledger_api, "own_account", broken)

    response = loyalty_api.post(BALANCE, token=customer_token().token)

    assert response.status == 200
    assert response.body["data"] == {"myLoyaltyAccount": None}
    assert response.error_messages == ["Internal error."]


def _aliases(count: int, selection: str) -> str:
    return "{ " + " ".join(f"a{n}: {selection}" for n in range(count)) + " }"


HISTORY_PAGE = "myLoyaltyAccount { history(first: 100) { edges { node { id } } } }"


@pytest.mark.parametrize(
    ("query", "refusal"),
    [
        (_aliases(20, HISTORY_PAGE), "selects 20 top-level fields; the limit is 10"),
        (
            "{ myLoyaltyAccount { "
            + _aliases(11, "history(first: 100) { edges { cursor } }")[1:-1]
            + " } }",
            "may read up to 1100 rows or database fields; the limit is 1000",
        ),
    ],
    ids=["20-root-aliases", "11-nested-pages-of-100"],
)
def test_costly_queries_are_refused_before_execution(
    loyalty_api, customer_token, django_assert_num_queries, query, refusal
):
    with django_assert_num_queries(0):
        response = loyalty_api.post(query, token=customer_token().token)

    assert response.status == 400
    assert refusal in response.error_messages[0]
    assert not LoyaltyAccount.objects.exists()


def test_a_query_at_the_cost_limit_runs(loyalty_api, customer_token):
    response = loyalty_api.post(_aliases(10, HISTORY_PAGE), token=customer_token().token)

    assert response.status == 200
    assert len(response.data) == 10
