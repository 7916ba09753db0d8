"""Saleor-style mutation errors: ``errors { field code message }`` with an enum of codes.

Mutations never raise: every refusal becomes one of these, and nothing is changed.
Every text a caller can read comes in English and Simplified Chinese; the request's
``Accept-Language`` (``LoyaltyContext.language``) picks one, English by default.
"""

from __future__ import annotations

from typing import Any

import graphene
from graphql import GraphQLError

from ..domain.tiers import localised


def in_language(language: str | None, english: str, chinese: str | None) -> str:
    """``chinese`` for zh, zh-Hans, zh-CN...; ``english`` otherwise."""
    return localised({"en": english, "zh-Hans": chinese or english}, language)


class LoyaltyErrorCode(graphene.Enum):
    GRAPHQL_ERROR = "graphql_error"
    INVALID = "invalid"
    REQUIRED = "required"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    UNAUTHENTICATED = "unauthenticated"
    INVALID_POINTS = "invalid_points"
    INSUFFICIENT_POINTS = "insufficient_points"
    OUT_OF_STOCK = "out_of_stock"
    LIMIT_REACHED = "limit_reached"
    UNIQUE = "unique"
    REWARD_UNAVAILABLE = "reward_unavailable"
    DUPLICATE_REDEMPTION = "duplicate_redemption"
    BIRTHDAY_LOCKED = "birthday_locked"


class LoyaltyError(graphene.ObjectType):
    field = graphene.String(
        description="The input field the error is about; null when it is about the whole request."
    )
    code = graphene.Field(LoyaltyErrorCode, required=True)
    message = graphene.String(required=True)


class MutationError(Exception):
    """Raised inside a mutation's body; turned into one ``LoyaltyError`` by the base class."""

    def __init__(
        self,
        message: str,
        code: str = "invalid",
        field: str | None = None,
        *,
        zh: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.zh = zh

    def message_for(self, language: str | None) -> str:
        return in_language(language, self.message, self.zh)

    def as_error(self, language: str | None = None) -> LoyaltyError:
        return LoyaltyError(field=self.field, code=self.code, message=self.message_for(language))


class LocalisedGraphQLError(GraphQLError):
    """A top-level GraphQL error (queries, arguments) that also knows its Chinese text.

    The endpoint shows the one the request's language asks for.
    """

    def __init__(self, message: str, *, zh: str | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.zh = zh

    def message_for(self, language: str | None) -> str:
        return in_language(language, self.message, self.zh)


KNOWN_CODES = frozenset(code.value for code in LoyaltyErrorCode._meta.enum)


def to_error(field: str | None, code: str, message: str) -> LoyaltyError:
    """A service's ``(field, code, message)`` as the API shows it.

    Field names become camelCase; codes outside the enum are reported as ``invalid``.
    """
    from graphene.utils.str_converters import to_camel_case

    return LoyaltyError(
        field=to_camel_case(field) if field else None,
        code=code if code in KNOWN_CODES else "invalid",
        message=message,
    )


PERMISSION_DENIED = "You need one of the following permissions: MANAGE_USERS."
PERMISSION_DENIED_ZH = "您需要以下权限之一：MANAGE_USERS。"
UNAUTHENTICATED = "Sign in first: send your Saleor access token as 'Authorization: Bearer <token>'."
UNAUTHENTICATED_ZH = "请先登录：以 'Authorization: Bearer <token>' 发送您的 Saleor 访问令牌。"
INTERNAL_ERROR = "Internal error; nothing changed."
INTERNAL_ERROR_ZH = "内部错误，未做任何更改。"


def permission_denied() -> MutationError:
    return MutationError(PERMISSION_DENIED, code="permission_denied", zh=PERMISSION_DENIED_ZH)


def permission_denied_error() -> LocalisedGraphQLError:
    """The same refusal where a query (not a mutation) is refused."""
    return LocalisedGraphQLError(PERMISSION_DENIED, zh=PERMISSION_DENIED_ZH)


def unauthenticated() -> MutationError:
    return MutationError(UNAUTHENTICATED, code="unauthenticated", zh=UNAUTHENTICATED_ZH)
