"""Staff campaigns: schedule, preview, cancel (the sending is ``services.campaign_flow``).

``schedule_campaign(channel, values, now=...)`` validates everything first and raises
``InvalidInput`` listing every bad field (camelCase, as in the API) with nothing written:
an unknown segment, a send time already past in the shop's zone, an unknown template or
template variable, a subject/body missing for a custom template, a bad coupon, a holdout
outside 0-50 %, a second variant that changes nothing. ``preview_campaign`` counts the
recipients (the segment minus opted-out, anonymised and holdout members, read in the
flow's batches) and lists the first ones; ``cancel_campaign`` works until the first
message of the campaign has gone out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone

from ..conf import incentive_from_text
from ..domain import campaigns as rules
from ..models import Campaign, CampaignState, FlowEnrolment, FlowMessage, MessageState
from ..selectors.segments import customers_in_segment
from . import scan_gates
from .campaign_enrolment import count_recipients
from .campaign_flow import CAMPAIGN_FLOW, Recipient, recipients
from .enrolments import local_zone, stop_enrolments
from .errors import FieldError, InvalidInput, NotFound

if TYPE_CHECKING:
    from ..conf import ChannelSettings

LANGUAGES = ("en", "zh-Hans")
MAX_PREVIEW = 50


def schedule_campaign(
    channel_slug: str,
    settings: ChannelSettings,
    *,
    now: datetime | None = None,
    created_by: str = "",
    **values: Any,
) -> Campaign:
    """Schedule a campaign: ``check_campaign``, then save it (state ``scheduled``)."""
    campaign = check_campaign(channel_slug, settings, now=now, **values)
    campaign.created_by = created_by[:128]
    with transaction.atomic():
        campaign.save()
        scan_gates.inputs_changed(scan_gates.CAMPAIGNS)  # the flow's scan waits for it
    return campaign


def check_campaign(
    channel_slug: str, settings: ChannelSettings, *, now: datetime | None = None, **values: Any
) -> Campaign:
    """The campaign ``values`` describe, checked and unsaved.

    ``values``: name (str), segment (a ``customers_in_segment`` name), channel (the
    delivery channel: the channel's configured one, the default), send_on (date),
    send_time (time, the recipients' wall clock), template (``custom`` or a built-in kind),
    subject / body ({language code: text}, required for ``custom``; optional subject for
    the built-in kinds), coupon_discount ("10%" or "5", optional), coupon_valid_days
    (1-365), holdout_percent (0-50, default the messaging default), variant_b
    ({"subject": {...}} and/or {"coupon_discount": "15%"}, optional). Raises
    ``InvalidInput`` (every bad field) and writes nothing then.
    """
    now = now or timezone.now()
    problems: list[FieldError] = []

    def bad(field: str, message: str) -> None:
        problems.append(FieldError(field, "invalid", message))

    name = str(values.get("name") or "").strip()
    if not name or len(name) > 255:
        bad("name", "Give the campaign a name of at most 255 characters.")
    segment = str(values.get("segment") or "")
    try:
        customers_in_segment(channel_slug, segment)
    except ValueError as error:
        bad("segment", str(error))
    send_on, send_time = values.get("send_on"), values.get("send_time")
    if not isinstance(send_on, date) or not isinstance(send_time, time):
        bad("sendAt", "Give the send date and the local time of day.")
    else:
        shop_zone = local_zone(settings.ledger.timezone)
        if rules.local_moment(send_on, send_time, shop_zone) <= now:
            bad("sendAt", "The send time has already passed in the shop's timezone.")
    channel = str(values.get("channel") or settings.delivery.delivery_channel)
    if channel != settings.delivery.delivery_channel:
        bad("channel", f"This channel sends by {settings.delivery.delivery_channel!r} only.")
    template = str(values.get("template") or "")
    if template not in rules.KINDS:
        bad("template", f"Unknown template: use one of {', '.join(rules.KINDS)}.")
    subject = _texts(values.get("subject"), "subject", bad)
    body = _texts(values.get("body"), "body", bad)
    if template == rules.CUSTOM:
        if "en" not in subject:
            bad("subject", 'A custom campaign needs a subject, at least in English ("en").')
        if "en" not in body:
            bad("body", 'A custom campaign needs a body, at least in English ("en").')
    elif body:
        bad("body", "Built-in templates have their own body; choose the custom template.")
    coupon = _coupon(values.get("coupon_discount"), "couponDiscount", bad)
    valid_days = values.get("coupon_valid_days") or 14
    if not isinstance(valid_days, int) or not 1 <= valid_days <= 365:
        bad("couponValidDays", "A coupon is valid 1 to 365 days.")
    holdout = _holdout(values.get("holdout_percent"), settings, bad)
    variant_b = _variant_b(values.get("variant_b") or {}, bad)
    if problems:
        raise InvalidInput(problems)
    assert isinstance(send_on, date)  # checked above
    assert isinstance(send_time, time)
    return Campaign(
        channel_slug=channel_slug,
        name=name,
        segment=segment,
        channel=channel,
        send_on=send_on,
        send_time=send_time,
        template=template,
        subject=subject,
        body=body,
        coupon_discount=coupon,
        coupon_valid_days=valid_days,
        holdout_percent=holdout,
        variant_b=variant_b,
    )


def _texts(raw: Any, field: str, bad: Any) -> dict[str, str]:
    if raw in (None, "", {}):
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        bad(field, 'Give texts by language, e.g. {"en": "...", "zh-Hans": "..."}.')
        return {}
    unknown = sorted(set(raw) - set(LANGUAGES))
    if unknown:
        bad(field, f"Unknown language {unknown[0]!r}: use {', '.join(LANGUAGES)}.")
    texts = {}
    for language, text in raw.items():
        if not text.strip():
            bad(field, f"The {language} text is empty.")
        for problem in rules.text_problems(text):
            bad(field, problem)
        texts[language] = text
    return texts


def _coupon(raw: Any, field: str, bad: Any) -> str:
    text = str(raw or "").strip()
    if not text:
        return ""
    try:
        incentive = incentive_from_text(text, 1)
    except (InvalidOperation, ValueError):
        bad(field, 'A coupon is a percentage ("10%") or a fixed amount ("5").')
        return ""
    if incentive.value <= 0 or (text.endswith("%") and incentive.value > 100):
        bad(field, "A coupon is above 0 (and at most 100%).")
    return text


def _holdout(raw: Any, settings: ChannelSettings, bad: Any) -> Decimal:
    if raw is None:
        return settings.messaging.holdout_percent
    try:
        share = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        share = Decimal(-1)
    problem = rules.holdout_problem(share) if share.is_finite() else "Not a number."
    if problem:
        bad("holdoutPercent", problem)
    return share


def _variant_b(raw: Any, bad: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or set(raw) - {"subject", "coupon_discount"}:
        bad("variantB", 'The second variant changes "subject" and/or "coupon_discount".')
        return {}
    variant: dict[str, Any] = {}
    if raw.get("subject"):
        variant["subject"] = _texts(raw["subject"], "variantB", bad)
    if "coupon_discount" in raw:
        variant["coupon_discount"] = _coupon(raw["coupon_discount"], "variantB", bad)
    if raw and not variant:
        bad("variantB", "The second variant must change the subject or the coupon.")
    return variant


def cancel_campaign(
    channel_slug: str, campaign_id: int, *, now: datetime | None = None
) -> Campaign:
    """Cancel before the send: stops its enrolments and waiting messages.

    Raises ``NotFound`` (no such campaign in the channel) or ``InvalidInput`` (already
    cancelled, or a message already went out); nothing changes then.
    """
    now = now or timezone.now()
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update()
            .filter(channel_slug=channel_slug, pk=campaign_id)
            .first()
        )
        if campaign is None:
            raise NotFound("No such campaign in this channel.", field="id")
        enrolments = FlowEnrolment.objects.filter(flow=CAMPAIGN_FLOW, cycle=campaign.pk)
        started = (
            FlowMessage.objects.filter(
                enrolment__in=enrolments, send_started_at__isnull=False
            ).exists()
            or FlowMessage.objects.filter(
                enrolment__in=enrolments, state=MessageState.SENT
            ).exists()
        )
        if campaign.state in (CampaignState.SENT, CampaignState.CANCELLED) or started:
            raise InvalidInput(
                {"id": f"The campaign is {campaign.state} or has started sending; too late."}
            )
        campaign.state = CampaignState.CANCELLED
        campaign.cancelled_at = now
        campaign.save(update_fields=["state", "cancelled_at"])
        stop_enrolments(enrolments, "campaign_cancelled", now=now)
        scan_gates.inputs_changed(scan_gates.CAMPAIGNS)
    return campaign


@dataclass(frozen=True)
class CampaignPreview:
    """Who a campaign would reach now: count, the first recipients, messages in EN and zh."""

    recipient_count: int
    held_out: int
    recipients: list[Recipient]
    messages: dict[str, dict[str, str]]  # language -> {subject, text, html}


def preview_campaign(
    campaign: Campaign, settings: ChannelSettings, *, first: int = 10
) -> CampaignPreview:
    """Count and list the recipients (the flow's own batches) and render one message.

    On PostgreSQL the counts are one statement over the segment
    (``campaign_enrolment.count_recipients``) and only the first batches are read for
    the list.

    ``campaign`` may be unsaved (a preview before scheduling); its holdout and variants
    then draw as if its id were 0. Opted-out and anonymised members are not counted,
    holdout members are counted apart (``held_out``).
    """
    first = max(0, min(first, MAX_PREVIEW))
    shown: list[Recipient] = []
    count = held = 0
    counted_in_sql = connection.vendor == "postgresql"
    after: str | None = ""
    while after is not None and not (counted_in_sql and len(shown) >= first):
        batch, after = recipients(campaign, settings.ledger.timezone, after=after)
        for recipient in batch:
            if recipient.is_holdout:
                held += 1
                continue
            count += 1
            if len(shown) < first:
                shown.append(recipient)
    if counted_in_sql:  # one statement over the whole segment, not Python over each member
        count, held = count_recipients(campaign)
    messages = {language: render_sample(campaign, language) for language in LANGUAGES}
    return CampaignPreview(count, held, shown, messages)


def render_sample(campaign: Campaign, language: str) -> dict[str, str]:
    """One rendered message (subject, text, html) with sample values, in ``language``."""
    from ..delivery.base import OutgoingMessage
    from ..delivery.rendering import render_message
    from .campaign_flow import coupon_of, message_context

    sample = {
        "points": 1200,
        "tier_code": "gold",
        "tier_name": "Gold" if language == "en" else "黄金",
    }
    context = message_context(campaign, "", language, sample)
    if coupon_of(campaign, ""):
        context.update(
            coupon_code="SAMPLE-CODE",
            coupon_discount=campaign.coupon_discount,
            coupon_valid_days=campaign.coupon_valid_days,
        )
    rendered = render_message(
        OutgoingMessage(
            idempotency_key="preview",
            flow=CAMPAIGN_FLOW,
            step=1,
            channel_slug=campaign.channel_slug,
            customer_id=None,
            recipient_email=None,
            language=language,
            context=context,
        ),
        unsubscribe_url="https://example.invalid/unsubscribe",
    )
    return {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}
