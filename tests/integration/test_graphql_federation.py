"""Apollo Federation v1: a gateway adds ``loyalty`` to Saleor's ``User``."""

from __future__ import annotations

import pytest
from graphql import build_ast_schema, parse

from saleor_retention_plugin.conf import LedgerSettings
from saleor_retention_plugin.graphql.ids import to_global_id
from saleor_retention_plugin.services.ledger import account_for, adjust_points

pytestmark = pytest.mark.django_db

ENTITIES = """
query Entities($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename
    ... on User { id loyalty { balance } }
  }
}
"""


@pytest.fixture
def points_of():
    def give(customer_id: int, points: int, email: str, channel: str = "main") -> None:
        account = account_for(channel, customer_id, email)
        adjust_points(
            account.pk,
            points,
            reason="seed",
            actor="user:1",
            idempotency_key=f"seed:{customer_id}:{channel}",
            settings=LedgerSettings(),
        )

    return give


def test_service_sdl_extends_saleors_user_and_hides_federation_plumbing(loyalty_api):
    sdl = loyalty_api.post("{ _service { sdl } }").data["_service"]["sdl"]

    assert 'extend type User @key(fields: "id") @key(fields: "email") {' in sdl
    assert "  loyalty: LoyaltyAccount\n" in sdl
    assert "id: ID! @external" in sdl
    for plumbing in ("_Any", "_Entity", "_Service", "_entities", "_service"):
        assert plumbing not in sdl
    # Without the federation extension the rest is a valid schema on its own.
    plain = sdl.split("extend type User")[0]
    assert build_ast_schema(parse(plain)).get_type("LoyaltyAccount") is not None


def test_customer_resolves_their_own_user_entity_by_id_and_by_email(
    loyalty_api, customer_token, points_of
):
    me = customer_token(user_id=1001, email="li.na@example.com")
    points_of(1001, 42, "li.na@example.com")

    data = loyalty_api.post(
        ENTITIES,
        {
            "representations": [
                {"__typename": "User", "id": me.global_user_id},
                {"__typename": "User", "email": "LI.NA@example.com"},
            ]
        },
        token=me.token,
    ).data

    assert data["_entities"] == [
        {"__typename": "User", "id": me.global_user_id, "loyalty": {"balance": 42}},
        {"__typename": "User", "id": None, "loyalty": {"balance": 42}},
    ]


def test_a_customer_cannot_read_another_users_loyalty_through_entities(
    loyalty_api, customer_token, points_of
):
    points_of(2002, 999, "wang.fang@example.com")

    response = loyalty_api.post(
        ENTITIES,
        {"representations": [{"__typename": "User", "id": to_global_id("User", 2002)}]},
        token=customer_token(user_id=1001).token,
    )

    assert response.body["data"]["_entities"] == [
        {"__typename": "User", "id": to_global_id("User", 2002), "loyalty": None}
    ]
    assert response.error_messages == ["You need one of the following permissions: MANAGE_USERS."]


def test_staff_resolve_any_users_loyalty(loyalty_api, staff_token, points_of):
    points_of(2002, 999, "wang.fang@example.com")

    data = loyalty_api.post(
        ENTITIES,
        {"representations": [{"__typename": "User", "email": "wang.fang@example.com"}]},
        token=staff_token().token,
    ).data

    assert data["_entities"][0]["loyalty"] == {"balance": 999}


@pytest.mark.parametrize(
    ("representation", "message"),
    [
        (
            {"__typename": "Order", "id": "T3JkZXI6MQ=="},
            "Only User entities can be resolved by this service.",
        ),
        ({"__typename": "User", "id": to_global_id("Order", 1)}, "Must receive a User id."),
        ({"__typename": "User"}, "A User representation needs an id or an email."),
    ],
)
def test_bad_representations_are_errors(loyalty_api, staff_token, representation, message):
    response = loyalty_api.post(
        ENTITIES, {"representations": [representation]}, token=staff_token().token
    )

    assert response.error_messages == [message]


def test_the_schema_command_prints_both_sdls():
    from io import StringIO

    from django.core.management import call_command

    plain, federated = StringIO(), StringIO()
    call_command("retention_graphql_schema", stdout=plain)
    call_command("retention_graphql_schema", "--federation", stdout=federated)

    assert "_entities(representations: [_Any!]!): [_Entity]!" in plain.getvalue()
    assert "extend type User @key" in federated.getvalue()
