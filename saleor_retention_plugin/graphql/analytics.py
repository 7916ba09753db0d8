"""What the reminders recovered, for staff: reminded carts against the holdout group."""

from __future__ import annotations

from typing import Any

import graphene

from ..selectors.carts import cart_recovery_summary
from .ledger import require_manager


class MoneyAmount(graphene.ObjectType):
    currency = graphene.String(required=True)
    amount = graphene.String(required=True, description="Decimal amount, as text.")


class CartRecoveryGroup(graphene.ObjectType):
    abandoned_carts = graphene.Int(required=True)
    recovered_carts = graphene.Int(required=True)
    recovery_rate = graphene.String(
        required=True, description="Recovered carts per 100 abandoned ones, one decimal."
    )
    revenue = graphene.List(graphene.NonNull(MoneyAmount), required=True)


class CartRecoveryStep(graphene.ObjectType):
    step = graphene.Int(description="The last reminder sent before the order; null: none.")
    carts = graphene.Int(required=True)
    revenue = graphene.Field(MoneyAmount, required=True)


class ReminderCount(graphene.ObjectType):
    state = graphene.String(required=True)
    messages = graphene.Int(required=True)


class CartRecovery(graphene.ObjectType):
    reminded = graphene.Field(
        CartRecoveryGroup, required=True, description="Abandoned carts that got reminders."
    )
    holdout = graphene.Field(
        CartRecoveryGroup,
        required=True,
        description="Abandoned carts held back from every reminder, for comparison.",
    )
    recovered_by_step = graphene.List(graphene.NonNull(CartRecoveryStep), required=True)
    reminders = graphene.List(graphene.NonNull(ReminderCount), required=True)
    open_carts = graphene.Int(required=True)


class AnalyticsQueries(graphene.ObjectType):
    cart_recovery = graphene.Field(
        CartRecovery,
        required=True,
        description=(
            "Abandoned and recovered carts of this channel, reminded against the holdout "
            "group, with revenue per reminder step. Requires MANAGE_USERS."
        ),
    )

    @staticmethod
    def resolve_cart_recovery(root: Any, info: Any) -> CartRecovery:
        require_manager(info)
        summary = cart_recovery_summary(info.context.channel_slug)

        def group(label: str) -> CartRecoveryGroup:
            numbers = summary["groups"][label]
            return CartRecoveryGroup(
                abandoned_carts=numbers["abandoned_carts"],
                recovered_carts=numbers["recovered_carts"],
                recovery_rate=numbers["recovery_rate"],
                revenue=[
                    MoneyAmount(currency=currency, amount=amount)
                    for currency, amount in numbers["revenue"].items()
                ],
            )

        return CartRecovery(
            reminded=group("reminded"),
            holdout=group("holdout"),
            recovered_by_step=[
                CartRecoveryStep(
                    step=row["step"],
                    carts=row["carts"],
                    revenue=MoneyAmount(currency=row["currency"], amount=row["revenue"]),
                )
                for row in summary["recovered_by_step"]
            ],
            reminders=[
                ReminderCount(state=state, messages=count)
                for state, count in sorted(summary["messages"].items())
            ],
            open_carts=summary["open_carts"],
        )
