"""The ``campaign`` flow: a scheduled campaign's segment, enrolled set-based, sent once.

At the first instant the campaign's wall time comes anywhere (UTC+14,
``domain.campaigns.first_moment``) the flow's ``scan`` takes the campaign (``scheduled``
-> ``sending``, one sweep wins) and enrols the segment's members in batches of
``BATCH``, each batch one read of the segment rows, one of their contacts (the purchase
history), one of their zones and languages (their latest cart), one of opt-outs, and one
``INSERT ... ON CONFLICT DO NOTHING`` of enrolments (``cycle`` = the campaign's id, so a
crashed or repeated scan enrols nobody twice; the cursor ``enrolled_through`` lets the
next sweep go on). Opted-out customers and anonymised rows are skipped. Each enrolment
is due at the wall time in the recipient's zone (their latest cart's zone, else the
shop's); the holdout (the campaign's share, drawn as the engine draws it) and the
variant (halves, when a second variant exists) are fixed on the row. From there the
engine sends: consent, quiet hours, the frequency cap, one message, coupons, and
``FlowConversion`` attribution. A campaign whose send is more than ``STALE_AFTER`` late
(the workers were down) is not sent any more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Q

from ..conf import incentive_from_text
from ..constants import CAMPAIGN_FLOW
from ..domain import campaigns as rules
from ..domain.customers import normalise_email
from ..domain.holdout import is_in_holdout
from ..domain.languages import best_language
from ..models import (
    Campaign,
    CampaignState,
    EnrolmentState,
    FlowEnrolment,
    MarketingOptOut,
    PurchasedOrder,
    SubjectKind,
    TrackedCart,
)
from ..selectors.segments import customers_in_segment
from . import scan_gates
from .campaign_enrolment import enrol_next_batch, holdout_salt, variant_count
from .consent import email_digest
from .enrolments import (
    Complete,
    EnrolmentFlow,
    SendStep,
    StopEnrolment,
    Subject,
    WaitUntil,
    local_zone,
)
from .flows import Cancel, Due, Preparation, Ready
from .lifecycle_content import storefront_url
from .lifecycle_flows import points_and_tier

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from zoneinfo import ZoneInfo

    from ..conf import ChannelSettings
    from .enrolments import Decision, EnrolmentRequest

BATCH = 500
MAX_BATCHES_PER_SWEEP = 40
STALE_AFTER = timedelta(days=2)


@dataclass(frozen=True)
class Recipient:
    """One segment member the campaign would reach, with where and when."""

    customer_key: str
    customer_id: int | None
    email: str | None
    language_code: str
    timezone: str
    send_at: datetime
    is_holdout: bool
    variant: str
    currency: str

    @property
    def subject(self) -> Subject:
        if self.customer_id is not None:
            return Subject.customer(self.customer_id)
        assert self.email is not None
        return Subject.guest(self.email)


def recipients(
    campaign: Campaign, shop_zone: str, *, after: str = "", limit: int = BATCH
) -> tuple[list[Recipient], str | None]:
    """The next ``limit`` segment rows after the key ``after``, as recipients.

    Returns the recipients (opted-out and anonymised members left out; holdout members
    in, flagged) and the last customer key read, None when the segment is exhausted.
    Five queries whatever the batch holds.
    """
    rows = list(
        customers_in_segment(campaign.channel_slug, campaign.segment)
        .filter(customer_key__gt=after)
        .values_list("customer_key", "currency")[:limit]
    )
    if not rows:
        return [], None
    keys = [key for key, _ in rows]
    contacts = _contacts(campaign.channel_slug, keys)
    ids = [cid for cid, _ in contacts.values() if cid is not None]
    emails = [email for _, email in contacts.values() if email]
    zones = _zones_and_languages(campaign.channel_slug, ids, emails)
    opted_ids, opted_digests = _opt_outs(ids, emails)
    found = []
    for key, currency in rows:
        if key not in contacts:
            continue
        customer_id, email = contacts[key]
        if customer_id in opted_ids or (email and email_digest(email) in opted_digests):
            continue
        zone_name, language = zones.get(customer_id) or zones.get(email) or ("", "en")
        zone = local_zone(zone_name, shop_zone)
        subject_key = (
            Subject.customer(customer_id) if customer_id is not None else Subject.guest(email or "")
        ).key
        found.append(
            Recipient(
                customer_key=key,
                customer_id=customer_id,
                email=email,
                language_code=language,
                timezone=zone.key,
                send_at=rules.local_moment(campaign.send_on, campaign.send_time, zone),
                is_holdout=is_in_holdout(
                    f"{subject_key}:{campaign.pk or 0}",
                    salt=holdout_salt(campaign.channel_slug),
                    percent=campaign.holdout_percent,
                ),
                variant=rules.variant_of(
                    campaign.pk or 0, subject_key, variants=variant_count(campaign)
                ),
                currency=currency,
            )
        )
    return found, keys[-1]


def _contacts(channel: str, keys: list[str]) -> dict[str, tuple[int | None, str | None]]:
    """Customer key -> (customer id, latest email) from the purchase history."""
    contacts: dict[str, tuple[int | None, str | None]] = {}
    for key in keys:
        if key.startswith("customer:") and key.removeprefix("customer:").isdigit():
            contacts[key] = (int(key.removeprefix("customer:")), None)
        elif key.startswith("email:"):
            contacts[key] = (None, normalise_email(key.removeprefix("email:")))
    customer_keys = [key for key, (cid, _) in contacts.items() if cid is not None]
    latest = (
        PurchasedOrder.objects.filter(
            channel_slug=channel, customer_key__in=customer_keys, email__isnull=False
        )
        .order_by("customer_key", "-placed_at")
        .values_list("customer_key", "email")
    )
    seen: set[str] = set()
    for key, email in latest:
        if key not in seen:
            seen.add(key)
            contacts[key] = (contacts[key][0], normalise_email(email))
    return contacts


def _zones_and_languages(
    channel: str, ids: list[int], emails: list[str]
) -> dict[int | str | None, tuple[str, str]]:
    """Customer id or email -> (zone, language) of their latest cart in the channel."""
    if not ids and not emails:
        return {}
    carts = (
        TrackedCart.objects.filter(
            Q(customer_id__in=ids) | Q(email__in=emails), channel_slug=channel
        )
        .order_by("last_activity_at")
        .values_list("customer_id", "email", "timezone", "language_code")
    )
    known: dict[int | str | None, tuple[str, str]] = {}
    for customer_id, email, zone, language in carts:  # the latest wins
        for who in (customer_id, email):
            if who is not None:
                known[who] = (zone, language or "en")
    return known


def _opt_outs(ids: list[int], emails: list[str]) -> tuple[set[int], set[str]]:
    """Opted-out customer ids and email digests among these, in any channel (as consent)."""
    digests = [digest for digest in map(email_digest, emails) if digest]
    rows = MarketingOptOut.objects.filter(
        Q(customer_id__in=ids) | Q(email_digest__in=digests)
    ).values_list("customer_id", "email_digest")
    return {cid for cid, _ in rows if cid is not None}, {d for _, d in rows if d}


def enrol_batch(campaign: Campaign, batch: Iterable[Recipient]) -> int:
    """Insert the batch's enrolments in one statement; returns how many were new."""
    rows = [
        FlowEnrolment(
            flow=CAMPAIGN_FLOW,
            channel_slug=campaign.channel_slug,
            subject_kind=SubjectKind.CUSTOMER,
            subject_key=recipient.subject.key,
            cycle=campaign.pk,
            customer_id=recipient.customer_id,
            email=recipient.email,
            language_code=recipient.language_code[:35],
            anchor_at=recipient.send_at,
            data={"timezone": recipient.timezone, "currency": recipient.currency},
            is_holdout=recipient.is_holdout,
            variant=recipient.variant,
            next_check_at=recipient.send_at,
        )
        for recipient in batch
    ]
    # Counted within the batch (the unique index), so the cost follows the batch.
    mine = FlowEnrolment.objects.filter(
        flow=CAMPAIGN_FLOW,
        channel_slug=campaign.channel_slug,
        cycle=campaign.pk,
        subject_key__in=[row.subject_key for row in rows],
    )
    before = mine.count()
    FlowEnrolment.objects.bulk_create(rows, ignore_conflicts=True)
    return mine.count() - before


def enrol_next(campaign: Campaign, shop_zone: str) -> tuple[int, str | None]:
    """Enrol the next batch after ``enrolled_through``: new enrolments, last key read.

    PostgreSQL: one ``INSERT ... SELECT`` per batch (``campaign_enrolment``); elsewhere
    (the SQLite sandbox) the recipients in Python, the same people in the same groups.
    """
    if connection.vendor == "postgresql":
        return enrol_next_batch(campaign, shop_zone, after=campaign.enrolled_through)
    batch, last = recipients(campaign, shop_zone, after=campaign.enrolled_through)
    return enrol_batch(campaign, batch), last


def take_due_campaigns(now: datetime) -> list[Campaign]:
    """Campaigns whose wall time has come somewhere: ``scheduled`` ones become ``sending``.

    Returns the ``sending`` campaigns by id. One query when none is due or sending (the
    sweep asks every minute), plus one update per campaign taken.
    """
    # Send dates from yesterday on cover UTC+14 (a day ahead of UTC at most).
    horizon = (now + timedelta(days=1)).date()
    sending = []
    for campaign in Campaign.objects.filter(
        Q(state=CampaignState.SCHEDULED, send_on__lte=horizon) | Q(state=CampaignState.SENDING)
    ).order_by("pk"):
        if campaign.state == CampaignState.SCHEDULED:
            if rules.first_moment(campaign.send_on, campaign.send_time) > now:
                continue
            # One sweep wins: the others find it sending already and only go on with it.
            if not Campaign.objects.filter(pk=campaign.pk, state=CampaignState.SCHEDULED).update(
                state=CampaignState.SENDING
            ):
                taken = Campaign.objects.filter(pk=campaign.pk).first()
                if taken is None or taken.state != CampaignState.SENDING:
                    continue
                campaign = taken
            campaign.state = CampaignState.SENDING
        sending.append(campaign)
    return sending


def finish_if_sent(campaign: Campaign, now: datetime) -> None:
    """``sending`` -> ``sent`` once every recipient is enrolled and none is waiting."""
    if not campaign.enrolment_done:
        return
    waiting = FlowEnrolment.objects.filter(
        flow=CAMPAIGN_FLOW, cycle=campaign.pk, state=EnrolmentState.ACTIVE
    ).exists()
    if not waiting and now >= rules.last_moment(campaign.send_on, campaign.send_time):
        Campaign.objects.filter(pk=campaign.pk, state=CampaignState.SENDING).update(
            state=CampaignState.SENT, sent_at=now
        )


class CampaignFlow(EnrolmentFlow):
    name = CAMPAIGN_FLOW
    subject_kind = SubjectKind.CUSTOMER

    def is_enabled(self, settings: ChannelSettings) -> bool:
        return settings.lifecycle.campaigns_enabled

    def holdout_percent(self, settings: ChannelSettings) -> Decimal:
        return Decimal(0)  # each campaign draws its own share (``enrol_batch``)

    # Scheduled, changed and cancelled campaigns (``services.campaigns``), the settings.
    scan_inputs = (scan_gates.CAMPAIGNS, scan_gates.CHANNEL_SETTINGS)

    def scan_quiet_until(self, now: datetime) -> datetime | None:
        """Now while a campaign is sending; else the earliest scheduled one's first moment.

        A sending campaign's scan enrols its next batches or finds it sent at each sweep;
        a scheduled one is taken at its first moment (``take_due_campaigns``); None when
        no campaign waits. One query.
        """
        waiting = Campaign.objects.filter(
            state__in=(CampaignState.SCHEDULED, CampaignState.SENDING)
        ).values_list("state", "send_on", "send_time")
        firsts = [
            now if state == CampaignState.SENDING else rules.first_moment(send_on, send_time)
            for state, send_on, send_time in waiting
        ]
        return min(firsts, default=None)

    def scan(self, now: datetime) -> Iterator[EnrolmentRequest]:
        from .flows import channel_settings_loader

        load = channel_settings_loader()
        batches = 0
        for campaign in take_due_campaigns(now):
            settings = load(campaign.channel_slug)
            while not campaign.enrolment_done and batches < MAX_BATCHES_PER_SWEEP:
                if settings is None or not self.is_enabled(settings):
                    break  # waits; each enrolment's ``advance`` would stop it anyway
                new, last = enrol_next(campaign, settings.ledger.timezone)
                batches += 1
                campaign.enrolled += new
                campaign.enrolled_through = last or campaign.enrolled_through
                campaign.enrolment_done = last is None
                still_sending = Campaign.objects.filter(
                    pk=campaign.pk, state=CampaignState.SENDING
                ).update(
                    enrolled=campaign.enrolled,
                    enrolled_through=campaign.enrolled_through,
                    enrolment_done=campaign.enrolment_done,
                )
                if not still_sending:
                    break  # cancelled meanwhile: its enrolments stop at their first check
            finish_if_sent(campaign, now)
        yield from ()  # enrolled set-based above, not one request at a time

    def advance(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime
    ) -> Decision:
        campaign = Campaign.objects.filter(pk=enrolment.cycle).first()
        if campaign is None or campaign.state == CampaignState.CANCELLED:
            return StopEnrolment("campaign_cancelled")
        if now > enrolment.anchor_at + STALE_AFTER:
            return StopEnrolment("campaign_too_late")
        if now < enrolment.anchor_at:
            return WaitUntil(enrolment.anchor_at)
        if enrolment.next_step > 1:
            return Complete()
        return SendStep(1, None)

    def compose(
        self,
        enrolment: FlowEnrolment,
        message: Any,
        settings: ChannelSettings,
        now: datetime,
    ) -> Preparation:
        campaign = Campaign.objects.filter(pk=enrolment.cycle).first()
        if campaign is None or campaign.state == CampaignState.CANCELLED:
            return Cancel("campaign_cancelled")
        zone = self.zone(enrolment, settings)
        return Due(zone, lambda: self.campaign_message(campaign, enrolment, settings, zone))

    def campaign_message(
        self,
        campaign: Campaign,
        enrolment: FlowEnrolment,
        settings: ChannelSettings,
        zone: ZoneInfo,
    ) -> Ready:
        """The campaign's message, built when it goes out (``compose`` checked it is still on)."""
        context = message_context(campaign, enrolment.variant, enrolment.language_code, {
            **points_and_tier(enrolment), "shop_url": storefront_url(settings),
        })  # fmt: skip
        discount = coupon_of(campaign, enrolment.variant)
        return Ready(
            context=context,
            zone=zone,
            incentive=incentive_from_text(discount, campaign.coupon_valid_days)
            if discount
            else None,
            currency=str(enrolment.data.get("currency") or ""),
        )


def coupon_of(campaign: Campaign, variant: str) -> str:
    """The coupon discount text of this variant ("" for none)."""
    if variant == "b" and "coupon_discount" in campaign.variant_b:
        return str(campaign.variant_b["coupon_discount"] or "")
    return campaign.coupon_discount


def message_context(
    campaign: Campaign, variant: str, language: str, customer: dict[str, Any]
) -> dict[str, Any]:
    """The template context: the kind, the merchant's subject and body filled, points, tier."""
    subjects = campaign.subject
    if variant == "b" and campaign.variant_b.get("subject"):
        subjects = campaign.variant_b["subject"]
    values = {
        "points": customer.get("points", 0),
        "tier": customer.get("tier_name", ""),
        "campaign": campaign.name,
    }

    def pick(texts: dict[str, str]) -> str:
        code = best_language(language, texts.keys())
        return rules.render_text(texts[code], values) if code else ""

    return {
        **customer,
        "kind": campaign.template,
        "campaign_name": campaign.name,
        "campaign_subject": pick(subjects),
        "campaign_body": pick(campaign.body) if campaign.template == rules.CUSTOM else "",
    }
