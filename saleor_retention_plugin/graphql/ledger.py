"""Queries and mutations over the points ledger."""

from __future__ import annotations

import uuid
from typing import Any

import graphene

from ..services.ledger import InvalidPoints, adjust_points
from .accounts import find_account, own_account
from .errors import LocalisedGraphQLError, MutationError, permission_denied_error
from .mutations import LoyaltyMutation
from .scalars import PointsAmount
from .types import AccountView, LoyaltyAccount, PointsTransaction, account_view

MAX_REASON_LENGTH = 500


def require_manager(info: Any) -> None:
    if not info.context.can_manage:
        raise permission_denied_error()


class LedgerQueries(graphene.ObjectType):
    my_loyalty_account = graphene.Field(
        LoyaltyAccount,
        description="The signed-in customer's account in this channel; null when anonymous.",
    )
    loyalty_account = graphene.Field(
        LoyaltyAccount,
        id=graphene.ID(description="The account's id."),
        user_id=graphene.ID(description="Saleor's global id of the customer."),
        email=graphene.String(),
        description="Any account of this channel, by one key. Requires MANAGE_USERS.",
    )

    @staticmethod
    def resolve_my_loyalty_account(root: Any, info: Any) -> AccountView | None:
        return account_view(info.context, own_account(info.context))

    @staticmethod
    def resolve_loyalty_account(
        root: Any,
        info: Any,
        id: str | None = None,
        user_id: str | None = None,
        email: str | None = None,
    ) -> AccountView | None:
        require_manager(info)
        try:
            return account_view(
                info.context,
                find_account(info.context, account_id=id, user_id=user_id, email=email),
            )
        except MutationError as error:
            if error.code == "not_found":
                return None
            raise LocalisedGraphQLError(error.message, zh=error.zh) from None


class LoyaltyPointsAdjustInput(graphene.InputObjectType):
    account_id = graphene.ID(description="The account's id; or give userId.")
    user_id = graphene.ID(description="Saleor's global id of the customer; or give accountId.")
    points = PointsAmount(
        required=True, description="Points to add (positive) or take (negative); not zero."
    )
    reason = graphene.String(required=True, description="Why; recorded with who did it.")
    idempotency_key = graphene.String(
        description="Send the same key again to retry safely: the adjustment happens once."
    )


class LoyaltyPointsAdjust(LoyaltyMutation):
    """Add or take points by hand (staff and apps with MANAGE_USERS); audited."""

    staff_only = True
    account = graphene.Field(LoyaltyAccount)
    transaction = graphene.Field(PointsTransaction)

    class Arguments:
        input = LoyaltyPointsAdjustInput(required=True)

    @classmethod
    def perform(cls, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        context = info.context
        points = input["points"]
        if points == 0:
            raise MutationError(
                "Enter a whole, non-zero number of points.",
                code="invalid_points",
                field="points",
                zh="请输入一个非零的整数积分。",
            )
        reason = (input.get("reason") or "").strip()
        if not reason:
            raise MutationError(
                "A reason is required.", code="required", field="reason", zh="请填写原因。"
            )
        if len(reason) > MAX_REASON_LENGTH:
            raise MutationError(
                f"Keep the reason under {MAX_REASON_LENGTH} characters.",
                code="invalid",
                field="reason",
                zh=f"原因请少于 {MAX_REASON_LENGTH} 个字符。",
            )
        key = (input.get("idempotency_key") or "").strip()
        if len(key) > 100:
            raise MutationError(
                "Keep the idempotency key under 100 characters.",
                code="invalid",
                field="idempotencyKey",
                zh="幂等键请少于 100 个字符。",
            )
        if input.get("account_id") and input.get("user_id"):
            raise MutationError(
                "Give accountId or userId, not both.",
                code="invalid",
                field="accountId",
                zh="请提供 accountId 或 userId，不要同时提供。",
            )
        if not input.get("account_id") and not input.get("user_id"):
            raise MutationError(
                "Give accountId or userId.",
                code="required",
                field="accountId",
                zh="请提供 accountId 或 userId。",
            )
        try:
            account = find_account(
                context,
                account_id=input.get("account_id"),
                user_id=input.get("user_id"),
                create_for_user=True,
            )
        except MutationError as error:
            if error.field == "id":
                error.field = "accountId"
            raise
        try:
            entry = adjust_points(
                account.pk,
                points,
                reason=reason,
                actor=context.requestor.actor,
                # Namespaced by actor, so one client's key can never replay another's.
                idempotency_key=(
                    f"adjust:{context.requestor.actor}:{key}" if key else f"adjust:{uuid.uuid4()}"
                ),
                settings=context.settings.ledger,
                now=context.now,
            )
        except InvalidPoints as error:
            raise MutationError(
                str(error), code="invalid_points", field="points", zh="请输入一个非零的整数积分。"
            ) from None
        account.refresh_from_db()
        return {"account": AccountView(account), "transaction": entry}


class LedgerMutations(graphene.ObjectType):
    loyalty_points_adjust = LoyaltyPointsAdjust.Field()
