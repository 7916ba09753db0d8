"""Object types of the loyalty API.

Resolvers read through ``info.context`` (a ``LoyaltyContext``) and never trust a
client-sent id without checking it belongs to the caller and the endpoint's channel.
List fields that can grow with a customer's activity are Relay connections with a
bounded page size and keyset cursors, so reading them costs a fixed number of queries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import graphene

from ..domain.tiers import localised
from ..models import LoyaltyAccount as LoyaltyAccountModel
from ..models import PointsEntry
from ..selectors.membership import customer_profile, entries_of_account
from ..services.ledger import AccountSummary, summarise_account
from . import membership_types
from .ids import to_global_id
from .limits import MAX_PAGE_SIZE, reads_database
from .pagination import PageInfo, build_connection, newest_first_page
from .scalars import DateTime
from .translations import language_of

EXPIRING_WITHIN_DAYS = 30


# --- points transactions -------------------------------------------------------------------


class PointsTransactionKind(graphene.Enum):
    EARN = "earn"
    REDEEM = "redeem"
    EXPIRE = "expire"
    ADJUST = "adjust"
    REVERSE = "reverse"


# Descriptions of the entries the ledger writes by itself (orders, expiry).
_STANDARD_DESCRIPTIONS: dict[str, dict[str, str]] = {
    PointsEntry.Kind.EARN: {
        "en": "Points for order #{number}",
        "zh-Hans": "订单 #{number} 获得积分",
    },
    PointsEntry.Kind.REVERSE: {
        "en": "Points taken back: order #{number} refunded or cancelled",
        "zh-Hans": "订单 #{number} 退款或取消，积分已扣回",
    },
    PointsEntry.Kind.EXPIRE: {"en": "Points expired", "zh-Hans": "积分已过期"},
}


class PointsTransaction(graphene.ObjectType):
    id = graphene.ID(required=True)
    kind = graphene.Field(PointsTransactionKind, required=True)
    points = graphene.Int(required=True, description="Points added (positive) or taken (negative).")
    written_off = graphene.Int(
        required=True, description="Points that could not be taken back (already spent)."
    )
    order_id = graphene.String(description="The Saleor order (UUID) this change belongs to.")
    order_number = graphene.String()
    reason = graphene.String(
        required=True, description="The record of why, as written (English for system entries)."
    )
    description = graphene.String(
        required=True,
        language_code=graphene.String(
            description='e.g. "zh-Hans" or "en"; defaults to the Accept-Language header.'
        ),
        description="What the customer reads about this change, in the requested language.",
    )
    actor = graphene.String(
        description="Who made a manual adjustment (user:<id> or app:<id>); staff only."
    )
    created_at = DateTime(required=True)

    @staticmethod
    def resolve_id(root: PointsEntry, info: Any) -> str:
        return to_global_id("PointsTransaction", root.pk)

    @staticmethod
    def resolve_written_off(root: PointsEntry, info: Any) -> int:
        return root.written_off

    @staticmethod
    def resolve_order_number(root: PointsEntry, info: Any) -> str | None:
        return root.order_number or None

    @staticmethod
    def resolve_description(root: PointsEntry, info: Any, language_code: str | None = None) -> str:
        language = language_of(info, language_code)
        texts = (root.details or {}).get("texts")
        if isinstance(texts, Mapping) and texts:
            return localised(texts, language)
        standard = _STANDARD_DESCRIPTIONS.get(root.kind)
        if standard is None or (root.kind != PointsEntry.Kind.EXPIRE and not root.order_number):
            # Staff adjustments: the reason as the staff member wrote it.
            return root.reason
        return localised(
            {code: text.format(number=root.order_number) for code, text in standard.items()},
            language,
        )

    @staticmethod
    def resolve_actor(root: PointsEntry, info: Any) -> str | None:
        return root.actor or None if info.context.can_manage else None


class PointsTransactionEdge(graphene.ObjectType):
    node = graphene.Field(PointsTransaction, required=True)
    cursor = graphene.String(required=True)


class PointsTransactionConnection(graphene.ObjectType):
    edges = graphene.List(graphene.NonNull(PointsTransactionEdge), required=True)
    page_info = graphene.Field(PageInfo, required=True)


class ExpiringPoints(graphene.ObjectType):
    points = graphene.Int(required=True)
    expires_at = DateTime(required=True)


# --- accounts ------------------------------------------------------------------------------


@dataclass
class AccountView:
    """A loyalty account and what one request computed about it (computed at most once)."""

    account: LoyaltyAccountModel
    _summary: AccountSummary | None = None
    _membership: Any = None

    def summary(self, context: Any) -> AccountSummary:
        if self._summary is None:
            self._summary = summarise_account(
                self.account, now=context.now, expiring_within_days=EXPIRING_WITHIN_DAYS
            )
        return self._summary

    def membership(self, context: Any) -> Any:
        if self._membership is None:
            from ..services.tiers import membership_of

            self._membership = membership_of(self.account, now=context.now)
        return self._membership


def account_view(context: Any, account: LoyaltyAccountModel | None) -> AccountView | None:
    """The request's one view of ``account`` for queries.

    However many aliases or ``_entities`` representations name it, its summary and tier
    are computed once. (Mutations build a fresh ``AccountView`` after each change instead.)
    """
    if account is None:
        return None
    key = f"account_view:{account.pk}"
    if key not in context.cache:
        context.cache[key] = AccountView(account)
    view: AccountView = context.cache[key]
    return view


class LoyaltyAccount(graphene.ObjectType):
    id = graphene.ID(required=True)
    channel = graphene.String(required=True, description="Slug of the account's channel.")
    user_id = graphene.ID(description="Saleor's global id of the customer (User:<pk>).")
    email = graphene.String()
    balance = graphene.Int(
        required=True, description="All points held: spendable plus pending (may be negative)."
    )
    spendable_points = graphene.Int(required=True, description="Points that can be spent now.")
    pending_points = graphene.Int(
        required=True, description="Points earned that become spendable later."
    )
    lifetime_points = graphene.Int(
        required=True,
        description=(
            "Points ever earned from orders, less what refunds and cancellations took back."
        ),
    )
    points_expiring_soon = graphene.List(
        graphene.NonNull(ExpiringPoints),
        required=True,
        description=f"Points that expire within {EXPIRING_WITHIN_DAYS} days, soonest first.",
    )
    tier = graphene.Field(lambda: membership_types.MembershipTier, description="The current tier.")
    tier_achieved_at = DateTime()
    tier_downgrade_due_at = DateTime(
        description="Set when the account no longer qualifies: the tier is kept until then."
    )
    next_tier = graphene.Field(
        lambda: membership_types.TierProgress,
        description="Progress to the next tier up; null at the top tier.",
    )
    benefits = graphene.List(
        lambda: graphene.NonNull(membership_types.TierBenefit),
        required=True,
        description="Active benefits of the current tier.",
    )
    birthday = graphene.Field(lambda: membership_types.Birthday)
    redemptions = graphene.Field(
        lambda: membership_types.RedemptionConnection,
        required=True,
        first=graphene.Int(description=f"Page size, 1 to {MAX_PAGE_SIZE} (default 20)."),
        after=graphene.String(),
        description="Rewards redeemed, newest first.",
    )
    tier_history = graphene.Field(
        lambda: membership_types.TierChangeConnection,
        required=True,
        first=graphene.Int(description=f"Page size, 1 to {MAX_PAGE_SIZE} (default 20)."),
        after=graphene.String(),
        description="How the account moved between tiers, newest first.",
    )
    history = graphene.Field(
        PointsTransactionConnection,
        required=True,
        first=graphene.Int(description=f"Page size, 1 to {MAX_PAGE_SIZE} (default 20)."),
        after=graphene.String(),
        description="Changes of points, newest first.",
    )

    @staticmethod
    def resolve_id(root: AccountView, info: Any) -> str:
        return to_global_id("LoyaltyAccount", root.account.pk)

    @staticmethod
    def resolve_channel(root: AccountView, info: Any) -> str:
        return root.account.channel_slug

    @staticmethod
    def resolve_user_id(root: AccountView, info: Any) -> str | None:
        customer_id = root.account.customer_id
        return to_global_id("User", customer_id) if customer_id is not None else None

    @staticmethod
    def resolve_email(root: AccountView, info: Any) -> str | None:
        return root.account.email

    @staticmethod
    def resolve_balance(root: AccountView, info: Any) -> int:
        return root.account.balance

    @staticmethod
    @reads_database
    def resolve_spendable_points(root: AccountView, info: Any) -> int:
        return max(root.summary(info.context).spendable, 0)

    @staticmethod
    @reads_database
    def resolve_pending_points(root: AccountView, info: Any) -> int:
        return root.summary(info.context).pending

    @staticmethod
    def resolve_lifetime_points(root: AccountView, info: Any) -> int:
        return root.account.lifetime_earned

    @staticmethod
    @reads_database
    def resolve_points_expiring_soon(root: AccountView, info: Any) -> list[ExpiringPoints]:
        return [
            ExpiringPoints(points=item.points, expires_at=item.expires_at)
            for item in root.summary(info.context).expiring_soon
        ]

    @staticmethod
    def resolve_history(
        root: AccountView, info: Any, first: int | None = None, after: str | None = None
    ) -> PointsTransactionConnection:
        rows, has_next, kind = newest_first_page(
            entries_of_account(root.account.pk),
            kind="PointsTransaction",
            first=first,
            after=after,
            moment_field="created_at",
        )
        return build_connection(
            PointsTransactionConnection, PointsTransactionEdge, rows, has_next, kind, "created_at"
        )

    @staticmethod
    @reads_database
    def resolve_tier(root: AccountView, info: Any) -> Any:
        return root.membership(info.context).tier

    @staticmethod
    @reads_database
    def resolve_tier_achieved_at(root: AccountView, info: Any) -> Any:
        return root.membership(info.context).achieved_at

    @staticmethod
    @reads_database
    def resolve_tier_downgrade_due_at(root: AccountView, info: Any) -> Any:
        return root.membership(info.context).downgrade_due_at

    @staticmethod
    @reads_database
    def resolve_next_tier(root: AccountView, info: Any) -> Any:
        progress = root.membership(info.context).next_tier
        if progress is None:
            return None
        return membership_types.TierProgress(
            tier=progress.tier,
            current_value=progress.current_value,
            remaining=progress.remaining,
            ratio=float(progress.ratio),
        )

    @staticmethod
    @reads_database
    def resolve_benefits(root: AccountView, info: Any) -> Any:
        return list(root.membership(info.context).benefits)

    @staticmethod
    @reads_database
    def resolve_birthday(root: AccountView, info: Any) -> Any:
        customer_id = root.account.customer_id
        if customer_id is None:
            return None
        key = f"profile:{customer_id}"
        if key not in info.context.cache:
            info.context.cache[key] = customer_profile(customer_id)
        profile = info.context.cache[key]
        if profile is None:
            return None
        return membership_types.Birthday(
            month=profile.birth_month, day=profile.birth_day, year=profile.birth_year
        )

    @staticmethod
    def resolve_redemptions(
        root: AccountView, info: Any, first: int | None = None, after: str | None = None
    ) -> Any:
        from ..services.mall import redemptions_of

        types = membership_types
        rows, has_next, kind = newest_first_page(
            redemptions_of(root.account),
            kind="Redemption",
            first=first,
            after=after,
            moment_field="created_at",
        )
        return build_connection(
            types.RedemptionConnection, types.RedemptionEdge, rows, has_next, kind, "created_at"
        )

    @staticmethod
    def resolve_tier_history(
        root: AccountView, info: Any, first: int | None = None, after: str | None = None
    ) -> Any:
        from ..services.tiers import tier_history

        types = membership_types
        rows, has_next, kind = newest_first_page(
            # Tiers and their benefits in two more queries, whatever the page size.
            tier_history(root.account)
            .select_related("from_tier", "to_tier")
            .prefetch_related("from_tier__benefits", "to_tier__benefits"),
            kind="TierChange",
            first=first,
            after=after,
            moment_field="changed_at",
        )
        return build_connection(
            types.TierChangeConnection, types.TierChangeEdge, rows, has_next, kind, "changed_at"
        )
