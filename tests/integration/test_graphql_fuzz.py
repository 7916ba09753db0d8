"""Fuzzing the loyalty API through the real endpoint: whatever arrives, the answer is
structured JSON and never a server error, and an answer with an error changed no row.

Requests go through Django's test client and the whole request cycle (a crash would be a
500 here, not an exception), to the plugin's route, on the real PostgreSQL schema. Bodies
are random bytes, random JSON, pathological nesting, and the API's own operations with
random variables (huge and fractional numbers, NUL bytes, lone surrogates, odd dates,
any Unicode) from anonymous callers, a customer, a customer without an account yet, staff
and a forged token. Each example runs in a
savepoint that is rolled back, so examples do not depend on each other.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saleor_retention_plugin.graphql.ids import to_global_id
from saleor_retention_plugin.models import CustomerProfile
from saleor_retention_plugin.services import mall
from saleor_retention_plugin.services.ledger import account_for

from .graphql_fixtures import issue_token

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.integration.plugin_urls")]

ENDPOINT = "/plugins/channel/main/saleor.retention/graphql/"
CUSTOMER_ID = 1001

OPERATIONS = [
    "query($f: Int, $a: String){ rewards(first: $f, after: $a){ edges{ cursor node { id } } } }",
    "query($id: ID!){ reward(id: $id){ id name pointsCost activeFrom activeUntil } }",
    "query($e: String, $u: ID){ loyaltyAccount(email: $e, userId: $u){ balance } }",
    "query($f: Int){ myLoyaltyAccount { balance birthday { month } history(first: $f)"
    "{ edges { node { points description } } } } }",
    "query($r: [_Any!]!){ _entities(representations: $r){ ... on User { loyalty { balance } } } }",
    "mutation($v: Decimal, $from: DateTime, $until: DateTime, $s: Int, $n: String!){"
    ' rewardCreate(input: {kind: FIXED_DISCOUNT, name: [{languageCode: "en", text: $n}],'
    " pointsCost: 5, discountValue: $v, activeFrom: $from, activeUntil: $until, stock: $s})"
    " { errors { field code message } reward { id } } }",
    "mutation($input: LoyaltyPointsAdjustInput!){ loyaltyPointsAdjust(input: $input)"
    " { errors { field code message } account { balance } } }",
    "mutation($id: ID!, $k: String!){ rewardRedeem(rewardId: $id, idempotencyKey: $k)"
    " { errors { field code message } redemption { code } } }",
    "mutation($m: Int!, $d: Int!, $y: Int){ birthdaySet(month: $m, day: $d, year: $y)"
    " { errors { field code message } birthday { month day } } }",
    "mutation($input: MembershipTierInput!){ membershipTierCreate(input: $input)"
    " { errors { field code message } tier { id } } }",
    "{ _service { sdl } }",
    "{ __schema { types { name } } }",
]
VARIABLE_NAMES = ["f", "a", "id", "e", "u", "r", "v", "from", "until", "s", "n", "input", "k"]
VARIABLE_NAMES += ["m", "d", "y"]

nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "abc",
            "1,5",
            "NaN",
            "-Infinity",
            "1e999999",
            "\x00",
            "a\x00b",
            "\ud800",
            "x\udfffy",
            "0001-01-01T00:00:00+05:00",
            "9999-12-31T23:59:59-05:00",
            "2026-02-30T00:00:00Z",
            "2026-11-29T09:00:00+08:00",
            "li.na@example.com",
            "UmV3YXJkOjE=",
            "VXNlcjoxMDAx",
            "🎁" * 10,
            "'; DROP TABLE x; --",
        ]
    ),
)
nasty_number = st.one_of(
    st.integers(),
    st.integers(-(2**63), 2**63),
    st.sampled_from([2**31, 2**31 - 1, -(2**31) - 1, 0, -1, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(st.none(), st.booleans(), nasty_number, nasty_text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(nasty_text, st.sampled_from(VARIABLE_NAMES)), children, max_size=4
        ),
    ),
    max_leaves=12,
)
entity = st.fixed_dictionaries(
    {"__typename": st.sampled_from(["User", "Order", ""])},
    optional={"id": st.one_of(nasty_text, nasty_number), "email": nasty_text},
)
adjust_input = st.fixed_dictionaries(
    {"points": nasty_number, "reason": nasty_text},
    optional={
        "userId": st.one_of(st.just(to_global_id("User", CUSTOMER_ID)), nasty_text),
        "idempotencyKey": nasty_text,
        "accountId": nasty_text,
    },
)
variables = st.dictionaries(
    st.sampled_from(VARIABLE_NAMES),
    st.one_of(json_values, st.lists(entity, max_size=5), adjust_input),
    max_size=6,
)
any_variable_value = st.one_of(json_values, st.lists(entity, max_size=5), adjust_input)
small_ints = st.one_of(st.integers(-3, 130), nasty_number)
# Values of roughly the declared type, so that many requests get past validation and run.
TYPED_VALUES: dict[str, st.SearchStrategy[Any]] = {
    **dict.fromkeys(["f", "s", "m", "d", "y"], small_ints),
    **dict.fromkeys(["a", "e", "n", "k", "from", "until", "v"], nasty_text),
    "id": st.one_of(st.just(to_global_id("Reward", 1)), nasty_text),
    "u": st.one_of(st.just(to_global_id("User", CUSTOMER_ID)), nasty_text),
    "r": st.lists(entity, max_size=5),
    "input": adjust_input,
}


def operation_with_variables(query: str) -> st.SearchStrategy[dict[str, Any]]:
    """The query with values for its own variables (each maybe missing) or random ones."""
    declared = sorted(set(re.findall(r"\$(\w+)", query)))
    own = st.fixed_dictionaries(
        {},
        optional={
            name: st.one_of(TYPED_VALUES.get(name, any_variable_value), any_variable_value)
            for name in declared
        },
    )
    return st.builds(
        lambda variables_, name: {"query": query, "variables": variables_, **name},
        st.one_of(own, own, own, variables),
        st.one_of(st.just({}), st.fixed_dictionaries({"operationName": json_values})),
    )


operation_bodies = st.sampled_from(OPERATIONS).flatmap(operation_with_variables)
deep_bodies = st.builds(
    lambda opening, depth: opening * depth,
    st.sampled_from(["[", "{", '{"query": "{ a', '{"query":"', '{"variables":{"f":[']),
    st.integers(1, 6000),
)
deep_queries = st.builds(
    lambda opening, depth: {"query": "{" + opening * depth + " id " + "}" * depth + "}"},
    st.sampled_from(["myLoyaltyAccount {", "a {", "[", "(", "... on User {"]),
    st.integers(1, 600),
)
token_soup = st.builds(
    lambda parts: {"query": " ".join(parts)},
    st.lists(
        st.sampled_from(
            [
                "{",
                "}",
                "(",
                ")",
                "[",
                "]",
                ":",
                "$f",
                "...",
                "on",
                "User",
                "query",
                "mutation",
                "fragment",
                "rewards",
                "first:",
                "1",
                '"s"',
                "__schema",
                "__type",
                "_entities",
                "myLoyaltyAccount",
                "balance",
                "birthday",
                "@include(if: true)",
                "#",
                "\\u0000",
            ]
        ),
        max_size=40,
    ),
)
bodies = st.one_of(
    operation_bodies,
    operation_bodies,
    operation_bodies,
    operation_bodies,
    deep_queries,
    token_soup,
    st.builds(lambda body: body, json_values),
).map(lambda body: json.dumps(body).encode())
raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
    deep_bodies.map(str.encode),
)
callers = st.sampled_from(["anonymous", "customer", "newcomer", "staff", "forged"])


def table_fingerprints() -> dict[str, tuple[int, str]]:
    """Row count and a checksum of every table of the plugin."""
    fingerprints = {}
    with connection.cursor() as cursor:
        for model in apps.get_app_config("saleor_retention_plugin").get_models():
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(
                f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
                f"FROM {table} t"
            )
            fingerprints[model._meta.db_table] = cursor.fetchone()
    return fingerprints


def has_error(value: Any) -> bool:
    """True when the answer holds any error, top-level or a mutation's ``errors`` list."""
    if isinstance(value, dict):
        return any(
            (key == "errors" and bool(item)) or has_error(item) for key, item in value.items()
        )
    if isinstance(value, list):
        return any(has_error(item) for item in value)
    return False


class Rollback(Exception):
    pass


@pytest.fixture
def seeded_shop(settings, shop_user):
    settings.RETENTION_GRAPHQL_REQUESTOR_RESOLVER = (
        "tests.integration.graphql_fixtures.resolve_test_requestor"
    )
    shop_user(CUSTOMER_ID)
    account_for("main", CUSTOMER_ID, "li.na@example.com")
    CustomerProfile.objects.create(
        customer_id=CUSTOMER_ID, birth_month=5, birth_day=4, birthday_set_at=timezone.now()
    )
    reward = mall.create_reward(
        "main", kind="fixed_discount", name={"en": "5 off"}, points_cost=1, discount_value="5"
    )
    return {
        "anonymous": {},
        "customer": {
            "HTTP_AUTHORIZATION": "Bearer "
            + issue_token("customer", user_id=CUSTOMER_ID, email="li.na@example.com")
        },
        # Signed in for the first time: a read opens the account, unless it fails.
        "newcomer": {
            "HTTP_AUTHORIZATION": "Bearer "
            + issue_token("customer", user_id=2002, email="new@example.com")
        },
        "staff": {
            "HTTP_AUTHORIZATION": "Bearer "
            + issue_token(
                "staff", user_id=9001, email="staff@example.com", permissions=["MANAGE_USERS"]
            )
        },
        "forged": {"HTTP_AUTHORIZATION": "Bearer not-a-token"},
        "reward_id": to_global_id("Reward", reward.pk),
    }


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(body=st.one_of(bodies, bodies, raw_bodies), caller=callers)
def test_any_request_gets_structured_json_never_a_5xx_and_errors_change_nothing(
    seeded_shop, body, caller
):
    client = Client(raise_request_exception=False)
    try:
        with transaction.atomic():
            before = table_fingerprints()
            response = client.post(
                ENDPOINT, data=body, content_type="application/json", **seeded_shop[caller]
            )
            assert response.status_code < 500, response.content[:500]
            assert response["Content-Type"] == "application/json"
            answer = json.loads(response.content)
            assert isinstance(answer, dict)
            assert set(answer) <= {"data", "errors"}
            assert answer, "an empty answer"
            for error in answer.get("errors", []):
                assert isinstance(error["message"], str)
                assert error["message"]
            if response.status_code != 200 or has_error(answer):
                assert table_fingerprints() == before, (body[:300], answer)
            raise Rollback
    except Rollback:
        pass
