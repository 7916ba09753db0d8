"""Queries and mutations of tiers, benefits, birthdays and the points mall.

Every write goes through ``services.tiers`` / ``services.mall``; this module translates
GraphQL input into their arguments, checks that ids belong to the endpoint's channel,
and turns their errors into ``errors { field code message }``.
"""

from __future__ import annotations

from base64 import b64decode, b64encode
from typing import TYPE_CHECKING, Any

import graphene

from ..selectors import membership as selectors
from ..services import mall, tiers
from .accounts import own_account
from .errors import (
    LocalisedGraphQLError,
    MutationError,
    permission_denied,
    permission_denied_error,
    unauthenticated,
)
from .membership_types import (
    Birthday,
    MembershipTier,
    Redemption,
    Reward,
    RewardConnection,
    RewardEdge,
    RewardKind,
    TierBenefit,
    TierBenefitKind,
    TierThresholdKind,
)
from .mutations import LoyaltyMutation, decode_id, duplicate_redemption
from .pagination import PageInfo, invalid_cursor, validate_page_size
from .scalars import DateTime, Decimal, JSONString, PointsAmount
from .types import AccountView, LoyaltyAccount
from .users import user_exists

if TYPE_CHECKING:
    from ..models import MembershipTier as MembershipTierModel
    from ..models import Reward as RewardModel
    from ..models import TierBenefit as TierBenefitModel

# --- reading ----------------------------------------------------------------------------------


# Far more rewards than any catalogue holds; cursors beyond it are forged.
MAX_REWARD_OFFSET = 1_000_000


def _offset_cursor(offset: int) -> str:
    return b64encode(f"Reward:{offset}".encode()).decode()


def _offset_from(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        prefix, _, number = b64decode(cursor.encode(), validate=True).decode().partition(":")
        # ASCII digits within a bound: a forged offset must not reach PostgreSQL's OFFSET
        # (beyond bigint it is an error there, far beyond the catalogue it is wasted work).
        if (
            prefix != "Reward"
            or not (number.isascii() and number.isdigit())
            or len(number) > len(str(MAX_REWARD_OFFSET))
            or int(number) >= MAX_REWARD_OFFSET
        ):
            raise ValueError(cursor)
        return int(number) + 1
    except (ValueError, UnicodeDecodeError):
        raise invalid_cursor(cursor) from None


class MembershipQueries(graphene.ObjectType):
    membership_tiers = graphene.List(
        graphene.NonNull(MembershipTier),
        required=True,
        description="The channel's tiers by rank, with their benefits (at most 20).",
    )
    rewards = graphene.Field(
        RewardConnection,
        required=True,
        first=graphene.Int(description="Page size, 1 to 100 (default 20)."),
        after=graphene.String(),
        include_unavailable=graphene.Boolean(
            default_value=False,
            description="Also inactive, future, past and sold-out rewards (MANAGE_USERS).",
        ),
        description="The points mall: rewards a customer can redeem now.",
    )
    reward = graphene.Field(Reward, id=graphene.ID(required=True))

    @staticmethod
    def resolve_membership_tiers(root: Any, info: Any) -> list[MembershipTierModel]:
        return selectors.tiers_of_channel(info.context.channel_slug)

    @staticmethod
    def resolve_rewards(
        root: Any,
        info: Any,
        first: int | None = None,
        after: str | None = None,
        include_unavailable: bool = False,
    ) -> RewardConnection:
        context = info.context
        if include_unavailable and not context.can_manage:
            raise permission_denied_error()
        size = validate_page_size(first)
        start = _offset_from(after)
        rows = list(
            selectors.listed_rewards(
                context.channel_slug, now=context.now, available_only=not include_unavailable
            )[start : start + size + 1]
        )
        edges = [
            RewardEdge(node=reward, cursor=_offset_cursor(start + index))
            for index, reward in enumerate(rows[:size])
        ]
        return RewardConnection(
            edges=edges,
            page_info=PageInfo.of(edges, len(rows) > size),
        )

    @staticmethod
    def resolve_reward(root: Any, info: Any, id: str) -> RewardModel | None:
        from .ids import InvalidGlobalId, from_global_id

        context = info.context
        try:
            pk = from_global_id(id, "Reward")
        except InvalidGlobalId as error:
            raise LocalisedGraphQLError(error.message, zh=error.zh) from None
        rewards = selectors.listed_rewards(
            context.channel_slug, now=context.now, available_only=not context.can_manage
        )
        return rewards.filter(pk=pk).first()


# --- customers: redeem, birthday ---------------------------------------------------------------


class RewardRedeem(LoyaltyMutation):
    """Spend points on a reward; the code comes back at once. Send a fresh
    ``idempotencyKey`` per click: the same key again redeems nothing more.
    """

    redemption = graphene.Field(Redemption)
    account = graphene.Field(LoyaltyAccount)

    class Arguments:
        reward_id = graphene.ID(required=True)
        idempotency_key = graphene.String(required=True)

    @classmethod
    def perform(cls, info: Any, reward_id: str, idempotency_key: str) -> dict[str, Any]:
        context = info.context
        if not context.requestor.is_authenticated:
            raise unauthenticated()
        account = own_account(context)
        if account is None:
            raise MutationError(
                "Only customers can redeem rewards.",
                code="permission_denied",
                zh="只有顾客可以兑换奖品。",
            )
        pk = decode_id(reward_id, "Reward", "rewardId")
        if not selectors.reward_exists_in_channel(context.channel_slug, pk):
            raise MutationError(
                "No such reward in this shop.",
                code="not_found",
                field="rewardId",
                zh="本店没有这个奖品。",
            )
        redemption, created = mall.redeem_or_replay(
            account,
            pk,
            idempotency_key,
            settings=context.settings.membership,
            now=context.now,
        )
        if not created:
            # The service returns the first redemption; the storefront is told it was one.
            return {"errors": [duplicate_redemption(context.language)], "redemption": redemption}
        account.refresh_from_db()
        return {"redemption": redemption, "account": AccountView(account)}


class BirthdaySet(LoyaltyMutation):
    """Record a birthday (Saleor has no such field). Customers set their own and may
    change it once a year; staff with MANAGE_USERS can set anyone's with ``userId``.
    """

    birthday = graphene.Field(Birthday)

    class Arguments:
        month = graphene.Int(required=True)
        day = graphene.Int(required=True)
        year = graphene.Int()
        user_id = graphene.ID(description="Staff only: whose birthday.")

    @classmethod
    def perform(
        cls, info: Any, month: int, day: int, year: int | None = None, user_id: str | None = None
    ) -> dict[str, Any]:
        context = info.context
        requestor = context.requestor
        if not requestor.is_authenticated:
            raise unauthenticated()
        if user_id is not None:
            if not context.can_manage:
                raise permission_denied()
            customer_id = decode_id(user_id, "User", "userId")
            if not user_exists(customer_id):
                raise MutationError(
                    "No such customer.", code="not_found", field="userId", zh="找不到这位顾客。"
                )
        elif requestor.user_id is not None:
            customer_id = requestor.user_id
        else:
            raise MutationError(
                "Give the userId whose birthday to set.",
                code="required",
                field="userId",
                zh="请提供要设置生日的 userId。",
            )
        profile = tiers.set_birthday(
            customer_id,
            month=month,
            day=day,
            year=year,
            now=context.now,
            staff=user_id is not None,
        )
        return {
            "birthday": Birthday(
                month=profile.birth_month, day=profile.birth_day, year=profile.birth_year
            )
        }


# --- staff: tiers and benefits ----------------------------------------------------------------


class LoyaltyTranslationInput(graphene.InputObjectType):
    language_code = graphene.String(required=True, description='e.g. "en" or "zh-Hans".')
    text = graphene.String(required=True)


def _texts(items: list[dict[str, str]] | None) -> dict[str, str] | None:
    if items is None:
        return None
    return {item["language_code"]: item["text"] for item in items}


TEXT_FIELDS = {"name", "description", "title"}


def _changes(input_: dict[str, Any]) -> dict[str, Any]:
    """Only the fields the client sent.

    Translations become language -> text objects and enums their values.
    """
    changes: dict[str, Any] = {}
    for field, value in dict(input_).items():
        if field in TEXT_FIELDS:
            changes[field] = _texts(value) or {}
        elif hasattr(value, "value"):
            changes[field] = value.value
        else:
            changes[field] = value
    return changes


class MembershipTierInput(graphene.InputObjectType):
    code = graphene.String(description='Stable name, e.g. "gold" (a-z, 0-9, -, _).')
    rank = graphene.Int(description="0 is the entry tier; higher is better.")
    name = graphene.List(graphene.NonNull(LoyaltyTranslationInput))
    description = graphene.List(graphene.NonNull(LoyaltyTranslationInput))
    threshold_kind = TierThresholdKind()
    threshold_value = Decimal()
    window_months = graphene.Int(description="0 means lifetime.")


def _tier_of_channel(context: Any, global_id: str, field: str = "id") -> MembershipTierModel:
    pk = decode_id(global_id, "MembershipTier", field)
    tier = selectors.tier_in_channel(context.channel_slug, pk)
    if tier is None:
        raise MutationError(
            "No such tier in this channel.",
            code="not_found",
            field=field,
            zh="此渠道中没有这个等级。",
        )
    return tier


class MembershipTierCreate(LoyaltyMutation):
    staff_only = True
    tier = graphene.Field(MembershipTier)

    class Arguments:
        input = MembershipTierInput(required=True)

    @classmethod
    def perform(cls, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        context = info.context
        values = _changes(input)
        tier = tiers.create_tier(
            context.channel_slug,
            code=values.get("code"),  # type: ignore[arg-type]
            rank=values.get("rank"),  # type: ignore[arg-type]
            name=values.get("name") or {},
            threshold_value=values.get("threshold_value"),  # type: ignore[arg-type]
            threshold_kind=values.get("threshold_kind"),
            window_months=values.get("window_months"),
            description=values.get("description"),
            settings=context.settings.membership,
        )
        return {"tier": tier}


class MembershipTierUpdate(LoyaltyMutation):
    """Changing a threshold re-evaluates every member; the programme stays on."""

    staff_only = True
    tier = graphene.Field(MembershipTier)

    class Arguments:
        id = graphene.ID(required=True)
        input = MembershipTierInput(required=True)

    @classmethod
    def perform(cls, info: Any, id: str, input: dict[str, Any]) -> dict[str, Any]:
        tier = _tier_of_channel(info.context, id)
        return {"tier": tiers.update_tier(tier.pk, **_changes(input))}


class MembershipTierDelete(LoyaltyMutation):
    """Members move to the best remaining tier they qualify for."""

    staff_only = True
    deleted_id = graphene.ID()

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform(cls, info: Any, id: str) -> dict[str, Any]:
        tier = _tier_of_channel(info.context, id)
        tiers.delete_tier(tier.pk)
        return {"deleted_id": id}


class TierBenefitInput(graphene.InputObjectType):
    kind = TierBenefitKind()
    value = Decimal()
    config = JSONString()
    title = graphene.List(graphene.NonNull(LoyaltyTranslationInput))
    description = graphene.List(graphene.NonNull(LoyaltyTranslationInput))
    position = graphene.Int()
    is_active = graphene.Boolean()


def _benefit_of_channel(context: Any, global_id: str) -> TierBenefitModel:
    pk = decode_id(global_id, "TierBenefit", "id")
    benefit = selectors.benefit_in_channel(context.channel_slug, pk)
    if benefit is None:
        raise MutationError(
            "No such benefit in this channel.",
            code="not_found",
            field="id",
            zh="此渠道中没有这个权益。",
        )
    return benefit


class TierBenefitCreate(LoyaltyMutation):
    staff_only = True
    benefit = graphene.Field(TierBenefit)

    class Arguments:
        tier_id = graphene.ID(required=True)
        input = TierBenefitInput(required=True)

    @classmethod
    def perform(cls, info: Any, tier_id: str, input: dict[str, Any]) -> dict[str, Any]:
        tier = _tier_of_channel(info.context, tier_id, field="tierId")
        values = _changes(input)
        if not values.get("kind"):
            raise MutationError(
                "Choose the kind of benefit.", code="required", field="kind", zh="请选择权益类型。"
            )
        benefit = tiers.create_benefit(tier.pk, **values)
        return {"benefit": benefit}


class TierBenefitUpdate(LoyaltyMutation):
    staff_only = True
    benefit = graphene.Field(TierBenefit)

    class Arguments:
        id = graphene.ID(required=True)
        input = TierBenefitInput(required=True)

    @classmethod
    def perform(cls, info: Any, id: str, input: dict[str, Any]) -> dict[str, Any]:
        benefit = _benefit_of_channel(info.context, id)
        return {"benefit": tiers.update_benefit(benefit.pk, **_changes(input))}


class TierBenefitDelete(LoyaltyMutation):
    staff_only = True
    deleted_id = graphene.ID()

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform(cls, info: Any, id: str) -> dict[str, Any]:
        benefit = _benefit_of_channel(info.context, id)
        tiers.delete_benefit(benefit.pk)
        return {"deleted_id": id}


# --- staff: rewards ----------------------------------------------------------------------------


class DrawPrizeInput(graphene.InputObjectType):
    code = graphene.String(required=True)
    name = graphene.List(graphene.NonNull(LoyaltyTranslationInput), required=True)
    probability = graphene.String(required=True, description='e.g. "0.05" for 5%.')
    kind = RewardKind(required=True, description="Not PRIZE_DRAW.")
    discount_value = Decimal()
    gift_product_id = graphene.String()
    quantity = graphene.Int(description="Null means unlimited.")


class RewardInput(graphene.InputObjectType):
    kind = RewardKind()
    name = graphene.List(graphene.NonNull(LoyaltyTranslationInput))
    description = graphene.List(graphene.NonNull(LoyaltyTranslationInput))
    points_cost = PointsAmount()
    discount_value = Decimal()
    min_order_amount = Decimal()
    gift_product_id = graphene.String()
    stock = graphene.Int(description="Null means unlimited.")
    per_customer_limit = graphene.Int(description="Null means unlimited.")
    active_from = DateTime()
    active_until = DateTime()
    is_active = graphene.Boolean()
    code_validity_days = graphene.Int()
    draw_prizes = graphene.List(graphene.NonNull(DrawPrizeInput))
    position = graphene.Int()


def _reward_changes(input_: dict[str, Any]) -> dict[str, Any]:
    changes = _changes(input_)
    if changes.get("draw_prizes") is not None:
        prizes = []
        for prize in changes["draw_prizes"]:
            prize = dict(prize)
            prize["name"] = _texts(prize.get("name")) or {}
            kind = prize.get("kind")
            prize["kind"] = getattr(kind, "value", kind)
            if prize.get("discount_value") is not None:
                prize["discount_value"] = str(prize["discount_value"])
            prizes.append(prize)
        changes["draw_prizes"] = prizes
    return changes


def _reward_of_channel(context: Any, global_id: str, *, only_id: bool = False) -> RewardModel:
    """The channel's reward, or a ``not_found`` field error. ``only_id`` loads nothing
    else, so a row whose dates Python cannot read can still be deleted.
    """
    pk = decode_id(global_id, "Reward", "id")
    reward = selectors.reward_in_channel(context.channel_slug, pk, only_id=only_id)
    if reward is None:
        raise MutationError(
            "No such reward in this channel.",
            code="not_found",
            field="id",
            zh="此渠道中没有这个奖品。",
        )
    return reward


class RewardCreate(LoyaltyMutation):
    staff_only = True
    reward = graphene.Field(Reward)

    class Arguments:
        input = RewardInput(required=True)

    @classmethod
    def perform(cls, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        return {"reward": mall.create_reward(info.context.channel_slug, **_reward_changes(input))}


class RewardUpdate(LoyaltyMutation):
    staff_only = True
    reward = graphene.Field(Reward)

    class Arguments:
        id = graphene.ID(required=True)
        input = RewardInput(required=True)

    @classmethod
    def perform(cls, info: Any, id: str, input: dict[str, Any]) -> dict[str, Any]:
        reward = _reward_of_channel(info.context, id)
        return {"reward": mall.update_reward(reward.pk, **_reward_changes(input))}


class RewardDelete(LoyaltyMutation):
    """Deletes a reward never redeemed; one with redemptions is deactivated instead, so
    customers' history stays intact (``deleted`` tells which happened).
    """

    staff_only = True
    deleted = graphene.Boolean()
    reward = graphene.Field(Reward, description="The deactivated reward, when not deleted.")

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform(cls, info: Any, id: str) -> dict[str, Any]:
        reward = _reward_of_channel(info.context, id, only_id=True)
        deleted = mall.delete_reward(reward.pk)
        if deleted:
            return {"deleted": True}
        # Fields are read as the answer asks for them: a row with unreadable dates still
        # deactivates, and only the unreadable field errors.
        return {
            "deleted": False,
            "reward": selectors.reward_in_channel(
                info.context.channel_slug, reward.pk, only_id=True
            ),
        }


class MembershipMutations(graphene.ObjectType):
    reward_redeem = RewardRedeem.Field()
    birthday_set = BirthdaySet.Field()
    membership_tier_create = MembershipTierCreate.Field()
    membership_tier_update = MembershipTierUpdate.Field()
    membership_tier_delete = MembershipTierDelete.Field()
    tier_benefit_create = TierBenefitCreate.Field()
    tier_benefit_update = TierBenefitUpdate.Field()
    tier_benefit_delete = TierBenefitDelete.Field()
    reward_create = RewardCreate.Field()
    reward_update = RewardUpdate.Field()
    reward_delete = RewardDelete.Field()
