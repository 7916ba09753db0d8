"""Global ids are checked against their type; requestors answer who may manage loyalty."""

from base64 import b64encode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saleor_retention_plugin.graphql.ids import InvalidGlobalId, from_global_id, to_global_id
from saleor_retention_plugin.graphql.requestor import MANAGE_USERS, Requestor, RequestorKind


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_an_id_decodes_to_its_pk_for_its_own_type(pk):
    assert from_global_id(to_global_id("Reward", pk), "Reward") == pk


def test_saleors_user_ids_decode():
    assert from_global_id("VXNlcjoyMQ==", "User") == 21  # Saleor's id of User 21


@pytest.mark.parametrize(
    ("global_id", "message"),
    [
        (to_global_id("Reward", 5), "Must receive a LoyaltyAccount id."),
        ("not base64!", "Couldn't resolve id: not base64!."),
        (b64encode(b"LoyaltyAccount:").decode(), "Couldn't resolve id"),
        (b64encode(b"LoyaltyAccount:-1").decode(), "Couldn't resolve id"),
        (b64encode(b"LoyaltyAccount:1 OR 1=1").decode(), "Couldn't resolve id"),
        (b64encode(b"LoyaltyAccount:" + b"9" * 40).decode(), "Couldn't resolve id"),
        (b64encode(b"LoyaltyAccount:9223372036854775808").decode(), "Couldn't resolve id"),
        (b64encode("LoyaltyAccount:١٢".encode()).decode(), "Couldn't resolve id"),
        (b64encode(b"\xff\xfe").decode(), "Couldn't resolve id"),
    ],
)
def test_ids_of_another_type_or_shape_are_refused(global_id, message):
    with pytest.raises(InvalidGlobalId, match=message):
        from_global_id(global_id, "LoyaltyAccount")


MANAGER = frozenset({MANAGE_USERS})


@pytest.mark.parametrize(
    ("requestor", "may_manage"),
    [
        (Requestor(RequestorKind.STAFF, user_id=1, permissions=MANAGER), True),
        (Requestor(RequestorKind.APP, app_id=1, permissions=MANAGER), True),
        (
            Requestor(RequestorKind.STAFF, user_id=1, permissions=frozenset({"MANAGE_ORDERS"})),
            False,
        ),
        (
            Requestor(RequestorKind.CUSTOMER, user_id=1, permissions=MANAGER),
            False,
        ),
        (
            Requestor(
                RequestorKind.STAFF,
                user_id=1,
                permissions=MANAGER,
                channel_slugs=frozenset({"cn-store"}),
            ),
            False,
        ),
        (
            Requestor(
                RequestorKind.STAFF,
                user_id=1,
                permissions=MANAGER,
                channel_slugs=frozenset({"main"}),
            ),
            True,
        ),
        (Requestor.anonymous(), False),
    ],
)
def test_who_may_manage_loyalty_in_a_channel(requestor, may_manage):
    assert requestor.can_manage_loyalty("main") is may_manage


def test_actors_name_users_and_apps():
    assert Requestor(RequestorKind.STAFF, user_id=9).actor == "user:9"
    assert Requestor(RequestorKind.APP, app_id=3).actor == "app:3"
