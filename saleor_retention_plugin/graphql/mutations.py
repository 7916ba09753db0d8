"""Mutation plumbing: Saleor-style ``errors`` instead of exceptions."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import graphene
from django.db import transaction

from ..services.errors import RetentionError
from ..services.ledger import LedgerError
from .errors import (
    INTERNAL_ERROR,
    INTERNAL_ERROR_ZH,
    LoyaltyError,
    MutationError,
    in_language,
    permission_denied,
    to_error,
    unauthenticated,
)
from .ids import InvalidGlobalId, from_global_id

logger = logging.getLogger(__name__)

# The ledger's refusals carry English details; customers reading Chinese get the gist.
LEDGER_ERRORS_ZH = {
    "insufficient_points": "积分不足。",
    "invalid_points": "请输入一个非零的整数积分。",
    "not_found": "找不到这个积分账户。",
}


class LoyaltyMutation(graphene.Mutation):
    """Base of every mutation: ``perform`` returns the payload's fields or raises
    ``MutationError``; whatever goes wrong, the client gets ``errors`` and no change.
    """

    errors = graphene.List(graphene.NonNull(LoyaltyError), required=True)

    # Set to True on staff-only mutations (MANAGE_USERS, in this channel).
    staff_only: ClassVar[bool] = False

    class Meta:
        abstract = True

    @classmethod
    def mutate(cls, root: Any, info: Any, **data: Any) -> Any:
        language = getattr(info.context, "language", None)
        try:
            # One transaction per mutation: whatever it wrote before refusing (the
            # caller's account opened on first use, say) is undone with the refusal.
            with transaction.atomic():
                if cls.staff_only and not info.context.can_manage:
                    if not info.context.requestor.is_authenticated:
                        raise unauthenticated()
                    raise permission_denied()
                fields = cls.perform(info, **data)
                if fields.get("errors"):
                    transaction.set_rollback(True)
        except MutationError as error:
            return cls(errors=[error.as_error(language)])
        except RetentionError as error:
            return cls(errors=service_errors(error, language))
        except Exception:
            logger.exception("Loyalty mutation %s failed", cls.__name__)
            message = in_language(language, INTERNAL_ERROR, INTERNAL_ERROR_ZH)
            return cls(errors=[LoyaltyError(field=None, code="graphql_error", message=message)])
        fields.setdefault("errors", [])
        return cls(**fields)

    @classmethod
    def perform(cls, info: Any, *args: Any, **data: Any) -> dict[str, Any]:
        raise NotImplementedError


def service_errors(error: RetentionError, language: str | None) -> list[LoyaltyError]:
    """A service's refusal as the API shows it, in the request's language.

    The ledger's own refusals carry English only; ``LEDGER_ERRORS_ZH`` gives their gist.
    """
    fallback = LEDGER_ERRORS_ZH if isinstance(error, LedgerError) else {}
    return [
        to_error(e.field, e.code, e.message_for(language))
        if e.translations or e.code not in fallback
        else to_error(e.field, e.code, in_language(language, e.message, fallback[e.code]))
        for e in error.errors
    ]


DUPLICATE_REDEMPTION = (
    "This redemption was already made (same idempotency key); no points were spent again."
)
DUPLICATE_REDEMPTION_ZH = "这次兑换已经完成，没有重复扣除积分。"


def duplicate_redemption(language: str | None) -> LoyaltyError:
    """What a repeated ``idempotencyKey`` answers, beside the first redemption."""
    return to_error(
        "idempotency_key",
        "duplicate_redemption",
        in_language(language, DUPLICATE_REDEMPTION, DUPLICATE_REDEMPTION_ZH),
    )


def decode_id(value: Any, expected_type: str, field: str) -> int:
    if value in (None, ""):
        raise MutationError(
            f"{field} is required.", code="required", field=field, zh=f"{field} 为必填项。"
        )
    try:
        return from_global_id(value, expected_type)
    except InvalidGlobalId as error:
        raise MutationError(error.message, code="invalid", field=field, zh=error.zh) from None
