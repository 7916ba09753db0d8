"""Mutation plumbing: Saleor-style ``errors`` instead of exceptions."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import graphene

from ..services.errors import RetentionError
from ..services.ledger import LedgerError
from .errors import LoyaltyError, MutationError, permission_denied, to_error, unauthenticated
from .ids import InvalidGlobalId, from_global_id

logger = logging.getLogger(__name__)


class LoyaltyMutation(graphene.Mutation):
    """Base of every mutation: ``perform`` returns the payload's fields or raises
    ``MutationError``; whatever goes wrong, the client gets ``errors`` and no change."""

    errors = graphene.List(graphene.NonNull(LoyaltyError), required=True)

    # Set to True on staff-only mutations (MANAGE_USERS, in this channel).
    staff_only: ClassVar[bool] = False

    class Meta:
        abstract = True

    @classmethod
    def mutate(cls, root: Any, info: Any, **data: Any) -> Any:
        try:
            if cls.staff_only and not info.context.can_manage:
                if not info.context.requestor.is_authenticated:
                    raise unauthenticated()
                raise permission_denied()
            fields = cls.perform(info, **data)
        except MutationError as error:
            return cls(errors=[error.as_error()])
        except LedgerError as error:
            return cls(errors=[to_error(None, error.code, str(error))])
        except RetentionError as error:
            return cls(errors=[to_error(e.field, e.code, e.message) for e in error.errors])
        except Exception:
            logger.exception("Loyalty mutation %s failed", cls.__name__)
            return cls(
                errors=[
                    LoyaltyError(
                        field=None, code="graphql_error", message="Internal error; nothing changed."
                    )
                ]
            )
        fields.setdefault("errors", [])
        return cls(**fields)

    @classmethod
    def perform(cls, info: Any, *args: Any, **data: Any) -> dict[str, Any]:
        raise NotImplementedError


def decode_id(value: Any, expected_type: str, field: str) -> int:
    if value in (None, ""):
        raise MutationError(f"{field} is required.", code="required", field=field)
    try:
        return from_global_id(value, expected_type)
    except InvalidGlobalId as error:
        raise MutationError(str(error), code="invalid", field=field) from None
