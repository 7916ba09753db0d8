"""Staff campaigns: ``campaignSchedule``, ``campaignCancel``, ``campaignPreview``, ``campaigns``.

All need MANAGE_USERS in the endpoint's channel (customers and apps without it are
refused). Refusals of the mutations come as ``errors { field code message }`` and change
nothing; ``sendAt`` is the recipients' local wall time, ``YYYY-MM-DDTHH:MM`` without an
offset (each recipient gets it in their own zone). See docs/campaigns.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import graphene

from ..models import Campaign as CampaignModel
from ..services import campaigns
from ..services.errors import InvalidInput
from .errors import LoyaltyError, MutationError, permission_denied_error
from .ids import to_global_id
from .limits import reads_database
from .mutations import LoyaltyMutation, decode_id, service_errors
from .scalars import DateTime, Decimal, JSONString

if TYPE_CHECKING:
    from ..services.campaign_flow import Recipient


class Campaign(graphene.ObjectType):
    id = graphene.ID(required=True)
    name = graphene.String(required=True)
    segment = graphene.String(required=True)
    channel = graphene.String(required=True, description="The delivery channel.")
    send_at = graphene.String(required=True, description="Local wall time, YYYY-MM-DDTHH:MM.")
    state = graphene.String(required=True, description="scheduled, sending, sent, cancelled.")
    template = graphene.String(required=True)
    subject = JSONString(required=True)
    body = JSONString(required=True)
    coupon_discount = graphene.String(required=True)
    coupon_valid_days = graphene.Int(required=True)
    holdout_percent = Decimal(required=True)
    variant_b = JSONString(required=True)
    enrolled = graphene.Int(required=True, description="Recipients enrolled so far.")
    created_at = DateTime(required=True)
    cancelled_at = DateTime()
    sent_at = DateTime()

    @staticmethod
    def resolve_id(root: CampaignModel, info: Any) -> str:
        return to_global_id("Campaign", root.pk)

    @staticmethod
    def resolve_send_at(root: CampaignModel, info: Any) -> str:
        return datetime.combine(root.send_on, root.send_time).isoformat(timespec="minutes")


class CampaignInput(graphene.InputObjectType):
    name = graphene.String(required=True)
    segment = graphene.String(
        required=True,
        description="new, active, dormant, high_value, discount_driven or rfm:RFM (rfm:5**).",
    )
    channel = graphene.String(description="Delivery channel; the channel's configured one.")
    send_at = graphene.String(required=True, description="Local wall time, YYYY-MM-DDTHH:MM.")
    template = graphene.String(
        required=True, description="custom, new_arrivals, clearance or festival_greeting."
    )
    subject = JSONString(description='{"en": "...", "zh-Hans": "..."}; variables {points}...')
    body = JSONString(description='{"en": "...", "zh-Hans": "..."} (custom template).')
    coupon_discount = graphene.String(description='"10%" or "5"; none when empty.')
    coupon_valid_days = graphene.Int()
    holdout_percent = Decimal(description="0-50; the messaging default when omitted.")
    variant_b = JSONString(
        description='A second variant: {"subject": {...}} and/or {"coupon_discount": "15%"}.'
    )


class CampaignRecipient(graphene.ObjectType):
    customer_id = graphene.ID()
    email = graphene.String()
    language = graphene.String(required=True)
    timezone = graphene.String(required=True)
    send_at = DateTime(required=True, description="When it goes out (UTC instant).")
    variant = graphene.String(required=True)

    @staticmethod
    def resolve_customer_id(root: Recipient, info: Any) -> str | None:
        return to_global_id("User", root.customer_id) if root.customer_id is not None else None

    @staticmethod
    def resolve_language(root: Recipient, info: Any) -> str:
        return root.language_code


class RenderedCampaignMessage(graphene.ObjectType):
    language = graphene.String(required=True)
    subject = graphene.String(required=True)
    text = graphene.String(required=True)
    html = graphene.String(required=True)


class CampaignPreview(graphene.ObjectType):
    recipient_count = graphene.Int(required=True, description="Who would get it now.")
    held_out = graphene.Int(required=True, description="Members in the holdout (no message).")
    recipients = graphene.List(graphene.NonNull(CampaignRecipient), required=True)
    messages = graphene.List(graphene.NonNull(RenderedCampaignMessage), required=True)
    errors = graphene.List(
        graphene.NonNull(LoyaltyError), required=True, description="Why there is no preview."
    )


def campaign_values(raw: dict[str, Any]) -> dict[str, Any]:
    """The API input as ``schedule_campaign`` takes it; a bad ``sendAt`` is a field error."""
    values = dict(raw)
    text = values.pop("send_at", None) or ""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is not None:
        raise MutationError(
            "Give the local send time as YYYY-MM-DDTHH:MM, without an offset.",
            field="sendAt",
            zh="请以 YYYY-MM-DDTHH:MM 格式填写当地发送时间，不带时区偏移。",
        )
    values["send_on"], values["send_time"] = moment.date(), moment.time()
    return values


class CampaignSchedule(LoyaltyMutation):
    """Schedule a one-off message to a segment (see docs/campaigns.md)."""

    staff_only = True
    campaign = graphene.Field(Campaign)

    class Arguments:
        input = CampaignInput(required=True)

    @classmethod
    def perform(cls, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        context = info.context
        campaign = campaigns.schedule_campaign(
            context.channel_slug,
            context.settings,
            now=context.now,
            created_by=context.requestor.actor,
            **campaign_values(input),
        )
        return {"campaign": campaign}


class CampaignCancel(LoyaltyMutation):
    """Cancel a campaign before its first message goes out."""

    staff_only = True
    campaign = graphene.Field(Campaign)

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform(cls, info: Any, id: str) -> dict[str, Any]:
        pk = decode_id(id, "Campaign", "id")
        campaign = campaigns.cancel_campaign(info.context.channel_slug, pk, now=info.context.now)
        return {"campaign": campaign}


class CampaignQueries(graphene.ObjectType):
    campaigns = graphene.List(
        graphene.NonNull(Campaign),
        required=True,
        state=graphene.String(),
        description="The channel's campaigns, latest send first (MANAGE_USERS).",
    )
    campaign_preview = graphene.Field(
        CampaignPreview,
        id=graphene.ID(description="A scheduled campaign."),
        input=CampaignInput(description="Or a campaign not scheduled yet."),
        first=graphene.Int(default_value=10, description="Recipients to list, at most 50."),
        description="Recipients and the message in English and Chinese (MANAGE_USERS).",
    )

    @staticmethod
    @reads_database
    def resolve_campaigns(root: Any, info: Any, state: str | None = None) -> list[CampaignModel]:
        if not info.context.can_manage:
            raise permission_denied_error()
        rows = CampaignModel.objects.filter(channel_slug=info.context.channel_slug)
        if state:
            rows = rows.filter(state=state)
        return list(rows.order_by("-send_on", "-send_time", "-pk"))

    @staticmethod
    @reads_database
    def resolve_campaign_preview(
        root: Any,
        info: Any,
        id: str | None = None,
        input: dict[str, Any] | None = None,
        first: int = 10,
    ) -> dict[str, Any]:
        context = info.context
        if not context.can_manage:
            raise permission_denied_error()
        language = getattr(context, "language", None)
        try:
            campaign = preview_target(context, id, input)
        except MutationError as error:
            return empty_preview([error.as_error(language)])
        except InvalidInput as error:
            return empty_preview(service_errors(error, language))
        preview = campaigns.preview_campaign(campaign, context.settings, first=first)
        return {
            "recipient_count": preview.recipient_count,
            "held_out": preview.held_out,
            "recipients": preview.recipients,
            "messages": [
                RenderedCampaignMessage(language=code, **message)
                for code, message in preview.messages.items()
            ],
            "errors": [],
        }


def preview_target(context: Any, id: str | None, input: dict[str, Any] | None) -> CampaignModel:
    """The saved campaign ``id`` names, or an unsaved one built (and checked) from ``input``."""
    if id:
        pk = decode_id(id, "Campaign", "id")
        campaign = CampaignModel.objects.filter(channel_slug=context.channel_slug, pk=pk).first()
        if campaign is None:
            raise MutationError("No such campaign in this channel.", code="not_found", field="id")
        return campaign
    if not input:
        raise MutationError("Give a campaign id or an input.", code="required", field="input")
    return campaigns.check_campaign(
        context.channel_slug, context.settings, now=context.now, **campaign_values(input)
    )


def empty_preview(errors: list[Any]) -> dict[str, Any]:
    return {"recipient_count": 0, "held_out": 0, "recipients": [], "messages": [], "errors": errors}


class CampaignMutations(graphene.ObjectType):
    campaign_schedule = CampaignSchedule.Field()
    campaign_cancel = CampaignCancel.Field()
