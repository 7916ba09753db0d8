"""Apollo Federation v1, the small part a gateway needs.

``_service { sdl }`` and ``_entities``, so a gateway can add ``loyalty`` to Saleor's
``User``.

graphene 2 has no federation support to rely on, so the pieces are written out here.
Saleor's ``User`` carries ``@key(fields: "id")`` and ``@key(fields: "email")``; this
service extends it with one field. ``loyalty`` follows the same rules as the rest of the
API: a customer sees only their own account, staff with MANAGE_USERS see anyone's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import graphene
from graphql.language import ast

from ..domain.customers import normalise_email
from ..selectors.membership import live_account
from .accounts import own_account
from .errors import LocalisedGraphQLError, permission_denied_error
from .ids import InvalidGlobalId, from_global_id
from .limits import reads_database
from .types import AccountView, LoyaltyAccount, account_view

MAX_REPRESENTATIONS = 100

USER_EXTENSION_SDL = """extend type User @key(fields: "id") @key(fields: "email") {
  id: ID! @external
  email: String! @external
  loyalty: LoyaltyAccount
}"""


def _literal(node: ast.Node) -> Any:
    if isinstance(node, ast.ObjectValue):
        return {field.name.value: _literal(field.value) for field in node.fields}
    if isinstance(node, ast.ListValue):
        return [_literal(value) for value in node.values]
    if isinstance(node, ast.IntValue):
        return int(node.value)
    if isinstance(node, ast.FloatValue):
        return float(node.value)
    if isinstance(node, ast.BooleanValue):
        return node.value
    if isinstance(node, ast.NullValue):
        return None
    return getattr(node, "value", None)


class _Any(graphene.Scalar):
    """A representation of an entity, as sent by a federation gateway."""

    @staticmethod
    def serialize(value: Any) -> Any:
        return value

    @staticmethod
    def parse_value(value: Any) -> Any:
        return value

    @staticmethod
    def parse_literal(node: ast.Node) -> Any:
        return _literal(node)


@dataclass(frozen=True)
class UserReference:
    customer_id: int | None
    email: str | None


class User(graphene.ObjectType):
    """Saleor's ``User``, as far as this service extends it."""

    # Saleor owns these (``@external`` in the SDL); a gateway never asks this service for
    # them, so they are only as known as the representation made them.
    id = graphene.ID()
    email = graphene.String()
    loyalty = graphene.Field(LoyaltyAccount)

    @staticmethod
    def resolve_id(root: UserReference, info: Any) -> str | None:
        from .ids import to_global_id

        return to_global_id("User", root.customer_id) if root.customer_id is not None else None

    @staticmethod
    def resolve_email(root: UserReference, info: Any) -> str | None:
        return root.email

    @staticmethod
    @reads_database
    def resolve_loyalty(root: UserReference, info: Any) -> AccountView | None:
        context = info.context
        requestor = context.requestor
        is_self = requestor.has_own_account and (
            (root.customer_id is not None and root.customer_id == requestor.user_id)
            or (
                root.customer_id is None
                and root.email is not None
                and root.email == normalise_email(requestor.email)
            )
        )
        if is_self:
            return account_view(context, own_account(context))
        if not context.can_manage:
            raise permission_denied_error()
        found = live_account(context.channel_slug, customer_id=root.customer_id, email=root.email)
        return account_view(context, found)


class _Entity(graphene.Union):
    class Meta:
        types = (User,)

    @classmethod
    def resolve_type(cls, instance: Any, info: Any) -> type[graphene.ObjectType]:
        return User


class _Service(graphene.ObjectType):
    sdl = graphene.String(required=True)


def _reference(representation: Any) -> UserReference:
    if not isinstance(representation, dict) or representation.get("__typename") != "User":
        raise LocalisedGraphQLError(
            "Only User entities can be resolved by this service.", zh="此服务只能解析 User 实体。"
        )
    if representation.get("id"):
        try:
            return UserReference(from_global_id(representation["id"], "User"), None)
        except InvalidGlobalId as error:
            raise LocalisedGraphQLError(error.message, zh=error.zh) from None
    email = normalise_email(representation.get("email"))
    if email:
        return UserReference(None, email)
    raise LocalisedGraphQLError(
        "A User representation needs an id or an email.", zh="User 表示需要 id 或 email。"
    )


class FederationQueries(graphene.ObjectType):
    service = graphene.Field(_Service, required=True, name="_service")
    entities = graphene.Field(
        graphene.NonNull(graphene.List(_Entity)),
        name="_entities",
        representations=graphene.Argument(
            graphene.List(graphene.NonNull(_Any), required=True), required=True
        ),
    )

    @staticmethod
    def resolve_service(root: Any, info: Any) -> _Service:
        return _Service(sdl=federation_sdl(info.schema))

    @staticmethod
    def resolve_entities(root: Any, info: Any, representations: list[Any]) -> list[UserReference]:
        if len(representations) > MAX_REPRESENTATIONS:
            raise LocalisedGraphQLError(
                f"At most {MAX_REPRESENTATIONS} representations at once.",
                zh=f"一次最多 {MAX_REPRESENTATIONS} 个表示。",
            )
        return [_reference(representation) for representation in representations]


_FEDERATION_TYPES = re.compile(
    r"^(scalar _Any|union _Entity = [^\n]*|type _Service \{[^}]*\}|type User \{[^}]*\})\n*", re.M
)
_FEDERATION_FIELDS = re.compile(r"^  (_service|_entities)\b[^\n]*\n", re.M)


def federation_sdl(schema: Any) -> str:
    """The schema as a federation v1 gateway wants it.

    Without the federation plumbing, and with ``User`` as an extension of Saleor's entity.
    """
    from graphql.utils.schema_printer import print_schema

    sdl = print_schema(schema)
    sdl = _FEDERATION_TYPES.sub("", sdl)
    sdl = _FEDERATION_FIELDS.sub("", sdl)
    return sdl.rstrip() + "\n\n" + USER_EXTENSION_SDL + "\n"
