"""Staff and app mutations of post-purchase care and member days.

``reviewPointsAward`` / ``reviewPointsRevoke``: a review earns the channel's "points for
a review" once per review id (Saleor has no reviews: a reviews app or staff report them);
removing it takes them back once. ``memberDaySchedule`` / ``Update`` / ``Cancel`` and the
``memberDays`` query manage the channel's member days. All need MANAGE_USERS in the
endpoint's channel (customers are refused with ``permission_denied``); refusals come as
``errors { field code message }`` and change nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import graphene

from ..models import MemberDay as MemberDayModel
from ..services import care, member_days
from .errors import MutationError, permission_denied_error
from .ids import to_global_id
from .limits import reads_database
from .mutations import LoyaltyMutation, decode_id
from .scalars import DateTime, Decimal, JSONString
from .users import user_exists

if TYPE_CHECKING:
    from ..models import ReviewAward as ReviewAwardModel


class ReviewAward(graphene.ObjectType):
    review_id = graphene.String(required=True)
    customer_id = graphene.ID(required=True)
    points = graphene.Int(required=True, description="Points the review earned.")
    taken_back = graphene.Int(required=True, description="Points its removal took back.")
    awarded_at = DateTime(required=True)
    revoked_at = DateTime()

    @staticmethod
    def resolve_customer_id(root: ReviewAwardModel, info: Any) -> str:
        return to_global_id("User", root.customer_id)


class MemberDay(graphene.ObjectType):
    id = graphene.ID(required=True)
    name = graphene.String(required=True)
    starts_at = DateTime(required=True)
    ends_at = DateTime(required=True)
    multiplier = Decimal(required=True)
    early_access_hours = JSONString(
        required=True, description='Tier code -> hours of early access, e.g. {"gold": 24}.'
    )
    announce_hours = graphene.Int(required=True)

    @staticmethod
    def resolve_id(root: MemberDayModel, info: Any) -> str:
        return to_global_id("MemberDay", root.pk)


class MemberDayInput(graphene.InputObjectType):
    name = graphene.String()
    starts_at = DateTime()
    ends_at = DateTime()
    multiplier = Decimal(description="Points multiplier in the window, above 0, at most 10.")
    early_access_hours = JSONString(
        description="Tier code -> hours before the start; higher tiers at least as many."
    )
    announce_hours = graphene.Int(description="Hours before a member's access to tell them.")


class ReviewPointsAward(LoyaltyMutation):
    """Give a customer the channel's points for a review, once per ``reviewId``."""

    staff_only = True
    award = graphene.Field(ReviewAward)

    class Arguments:
        customer_id = graphene.ID(required=True)
        review_id = graphene.String(required=True)

    @classmethod
    def perform(cls, info: Any, customer_id: str, review_id: str) -> dict[str, Any]:
        context = info.context
        customer = decode_id(customer_id, "User", "customerId")
        if not user_exists(customer):
            raise MutationError(
                "No such customer.", code="not_found", field="customerId", zh="找不到这位顾客。"
            )
        award = care.award_review_points(
            context.channel_slug,
            customer,
            review_id,
            settings=context.settings,
            actor=context.requestor.actor,
            now=context.now,
        )
        return {"award": award}


class ReviewPointsRevoke(LoyaltyMutation):
    """Take back a removed review's points, once (at most what the balance holds)."""

    staff_only = True
    award = graphene.Field(ReviewAward)

    class Arguments:
        review_id = graphene.String(required=True)

    @classmethod
    def perform(cls, info: Any, review_id: str) -> dict[str, Any]:
        context = info.context
        award = care.revoke_review_points(
            context.channel_slug,
            review_id,
            settings=context.settings,
            actor=context.requestor.actor,
            now=context.now,
        )
        return {"award": award}


class MemberDaySchedule(LoyaltyMutation):
    staff_only = True
    member_day = graphene.Field(MemberDay)

    class Arguments:
        input = MemberDayInput(required=True)

    @classmethod
    def perform(cls, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        day = member_days.schedule_member_day(info.context.channel_slug, **dict(input))
        return {"member_day": day}


class MemberDayUpdate(LoyaltyMutation):
    staff_only = True
    member_day = graphene.Field(MemberDay)

    class Arguments:
        id = graphene.ID(required=True)
        input = MemberDayInput(required=True)

    @classmethod
    def perform(cls, info: Any, id: str, input: dict[str, Any]) -> dict[str, Any]:
        pk = decode_id(id, "MemberDay", "id")
        day = member_days.update_member_day(info.context.channel_slug, pk, **dict(input))
        return {"member_day": day}


class MemberDayCancel(LoyaltyMutation):
    staff_only = True
    deleted_id = graphene.ID()

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform(cls, info: Any, id: str) -> dict[str, Any]:
        member_days.cancel_member_day(info.context.channel_slug, decode_id(id, "MemberDay", "id"))
        return {"deleted_id": id}


class CareQueries(graphene.ObjectType):
    member_days = graphene.List(
        graphene.NonNull(MemberDay),
        required=True,
        description="The channel's member days, soonest first (MANAGE_USERS).",
    )

    @staticmethod
    @reads_database
    def resolve_member_days(root: Any, info: Any) -> list[MemberDayModel]:
        if not info.context.can_manage:
            raise permission_denied_error()
        return list(
            MemberDayModel.objects.filter(channel_slug=info.context.channel_slug).order_by(
                "starts_at"
            )
        )


class CareMutations(graphene.ObjectType):
    review_points_award = ReviewPointsAward.Field()
    review_points_revoke = ReviewPointsRevoke.Field()
    member_day_schedule = MemberDaySchedule.Field()
    member_day_update = MemberDayUpdate.Field()
    member_day_cancel = MemberDayCancel.Field()
