"""Saleor-style mutation errors: ``errors { field code message }`` with an enum of codes.

Mutations never raise: every refusal becomes one of these, and nothing is changed.
"""

from __future__ import annotations

import graphene


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

    def __init__(self, message: str, code: str = "invalid", field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field

    def as_error(self) -> LoyaltyError:
        return LoyaltyError(field=self.field, code=self.code, message=self.message)


KNOWN_CODES = frozenset(code.value for code in LoyaltyErrorCode._meta.enum)


def to_error(field: str | None, code: str, message: str) -> LoyaltyError:
    """A service's ``(field, code, message)`` as the API shows it: camelCase field names,
    codes outside the enum reported as ``invalid``."""
    from graphene.utils.str_converters import to_camel_case

    return LoyaltyError(
        field=to_camel_case(field) if field else None,
        code=code if code in KNOWN_CODES else "invalid",
        message=message,
    )


def permission_denied() -> MutationError:
    return MutationError(
        "You need one of the following permissions: MANAGE_USERS.", code="permission_denied"
    )


def unauthenticated() -> MutationError:
    return MutationError(
        "Sign in first: send your Saleor access token as 'Authorization: Bearer <token>'.",
        code="unauthenticated",
    )
