"""The first event-started flows on the engine: welcome, points expiring, tier upgrade.

Each is switched and timed per channel (``ChannelSettings.lifecycle``), drawn into its
own holdout (the messaging settings' default share), and sent through the one outbox
(consent, cap, quiet hours, exactly once). Templates: ``messages/<name>/<language>/``.

* ``welcome``: after a customer's first order (``order_placed`` with ``is_first_order``),
  ``welcome_delay_hours`` later: thanks, a short guide, their points and tier, and the
  optional single-use coupon for the next order.
* ``points_expiring``: ``points_expiring_days_ahead`` (30 and 7 by default) before points
  expire (the daily ``points_expiring`` scan); one run per account and expiry day. At
  send time the points still expiring are counted again: none left, nothing is sent.
* ``tier_upgrade``: when a customer reaches a higher tier (``tier_changed``), once per change.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Sum

from ..domain.languages import best_language
from ..models import CustomerTier, MembershipTier, PointsLot
from ..selectors.membership import live_account
from .enrolments import Complete, EnrolmentRequest, SingleMessageFlow, Subject
from .flow_events import ORDER_PLACED, POINTS_EXPIRING, TIER_CHANGED, FlowEvent
from .flows import Cancel, Due, Preparation, Ready
from .lifecycle_content import storefront_url

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..conf import ChannelSettings
    from ..models import FlowEnrolment
    from .enrolments import Decision

WELCOME_FLOW = "welcome"
POINTS_EXPIRING_FLOW = "points_expiring"
TIER_UPGRADE_FLOW = "tier_upgrade"


def subject_of(event: FlowEvent) -> Subject | None:
    if event.customer_id is not None:
        return Subject.customer(event.customer_id)
    return Subject.guest(event.email) if event.email else None


def request_for(
    event: FlowEvent, subject: Subject, anchor_at: datetime, *, cycle: int = 1, **data: Any
) -> EnrolmentRequest:
    return EnrolmentRequest(
        subject=subject,
        channel_slug=event.channel_slug,
        anchor_at=anchor_at,
        customer_id=event.customer_id,
        email=event.email,
        language_code=event.language_code,
        cycle=cycle,
        data=data,
    )


def tier_name(tier: MembershipTier | None, language: str) -> str:
    if tier is None:
        return ""
    names = tier.name or {}
    code = best_language(language, names.keys())
    return str(names[code]) if code else tier.code


def points_and_tier(enrolment: FlowEnrolment) -> dict[str, Any]:
    """The customer's points balance and tier now: ``points``, ``tier_code``, ``tier_name``.

    Zero and empty strings when the customer has no live account or no tier.
    """
    account = live_account(
        enrolment.channel_slug, customer_id=enrolment.customer_id, email=enrolment.email
    )
    if account is None:
        return {"points": 0, "tier_code": "", "tier_name": ""}
    membership = CustomerTier.objects.select_related("tier").filter(account=account).first()
    tier = membership.tier if membership is not None else None
    return {
        "points": account.balance,
        "tier_code": tier.code if tier is not None else "",
        "tier_name": tier_name(tier, enrolment.language_code),
    }


class WelcomeFlow(SingleMessageFlow):
    name = WELCOME_FLOW
    events = (ORDER_PLACED,)

    def is_enabled(self, settings: ChannelSettings) -> bool:
        return settings.lifecycle.welcome_enabled

    def on_event(self, event: FlowEvent, settings: ChannelSettings) -> Iterator[EnrolmentRequest]:
        subject = subject_of(event)
        if event.data.get("is_first_order") and subject is not None:
            yield request_for(
                event,
                subject,
                event.occurred_at,
                order_id=event.data.get("order_id"),
                currency=event.data.get("currency", ""),
            )

    def first_check_at(self, request: EnrolmentRequest, settings: ChannelSettings) -> datetime:
        return request.anchor_at + settings.lifecycle.welcome_delay

    def send_times(self, enrolment: FlowEnrolment, settings: ChannelSettings) -> list[datetime]:
        return [enrolment.anchor_at + settings.lifecycle.welcome_delay]

    def content(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime
    ) -> Preparation:
        zone = self.zone(enrolment, settings)
        return Due(
            zone,
            lambda: Ready(
                context={**points_and_tier(enrolment), "shop_url": storefront_url(settings)},
                zone=zone,
                incentive=settings.lifecycle.welcome_incentive,
                currency=str(enrolment.data.get("currency") or ""),
            ),
        )


class PointsExpiringFlow(SingleMessageFlow):
    name = POINTS_EXPIRING_FLOW
    events = (POINTS_EXPIRING,)

    def is_enabled(self, settings: ChannelSettings) -> bool:
        return settings.lifecycle.points_expiring_enabled

    def on_event(self, event: FlowEvent, settings: ChannelSettings) -> Iterator[EnrolmentRequest]:
        subject = subject_of(event)
        if subject is None:
            return
        expires_at = datetime.fromisoformat(event.data["expires_at"])
        yield request_for(
            event,
            subject,
            expires_at,
            cycle=int(expires_at.strftime("%Y%m%d")),  # one run per expiry day
            account_id=event.data["account_id"],
            expires_at=event.data["expires_at"],
        )

    def send_times(self, enrolment: FlowEnrolment, settings: ChannelSettings) -> list[datetime]:
        return [
            enrolment.anchor_at - timedelta(days=days)
            for days in settings.lifecycle.points_expiring_days_ahead
        ]

    def first_check_at(self, request: EnrolmentRequest, settings: ChannelSettings) -> datetime:
        days = settings.lifecycle.points_expiring_days_ahead
        return request.anchor_at - timedelta(days=days[0])

    def advance(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime
    ) -> Decision:
        if now >= enrolment.anchor_at:
            return Complete()  # expired already: nothing left to warn of
        return super().advance(enrolment, settings, now)

    def content(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime
    ) -> Preparation:
        if now >= enrolment.anchor_at:
            return Cancel("points_expired")
        expiring = PointsLot.objects.filter(
            account_id=enrolment.data.get("account_id"),
            account__anonymised_at__isnull=True,
            remaining__gt=0,
            expires_at__gt=now,
            expires_at__lte=enrolment.anchor_at,
        ).aggregate(points=Sum("remaining"))["points"]
        if not expiring:
            return Cancel("points_no_longer_expiring")  # spent meanwhile
        zone = self.zone(enrolment, settings)
        return Due(
            zone,
            lambda: Ready(
                context={
                    "expiring_points": int(expiring),
                    "expires_on": enrolment.anchor_at.astimezone(zone).date().isoformat(),
                    "days_left": max((enrolment.anchor_at - now).days, 0),
                    **points_and_tier(enrolment),
                    "shop_url": storefront_url(settings),
                },
                zone=zone,
            ),
        )


class TierUpgradeFlow(SingleMessageFlow):
    name = TIER_UPGRADE_FLOW
    events = (TIER_CHANGED,)

    def is_enabled(self, settings: ChannelSettings) -> bool:
        return settings.lifecycle.tier_upgrade_enabled

    def on_event(self, event: FlowEvent, settings: ChannelSettings) -> Iterator[EnrolmentRequest]:
        subject = subject_of(event)
        if subject is None or not is_upgrade(
            event.channel_slug, event.data.get("from_tier", ""), event.data.get("to_tier", "")
        ):
            return
        if event.email is None:
            # The signal names the customer only: their account knows the address.
            account = live_account(event.channel_slug, customer_id=event.customer_id)
            event = replace(event, email=account.email if account is not None else None)
        yield request_for(
            event,
            subject,
            event.occurred_at,
            cycle=int(event.data["change_id"]),
            to_tier=event.data["to_tier"],
        )

    def content(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime
    ) -> Preparation:
        current = points_and_tier(enrolment)
        if current["tier_code"] != enrolment.data.get("to_tier"):
            return Cancel("tier_changed_again")  # downgraded or moved on before the send
        return Ready(
            context={**current, "shop_url": storefront_url(settings)},
            zone=self.zone(enrolment, settings),
        )


def is_upgrade(channel_slug: str, from_code: str, to_code: str) -> bool:
    """Whether ``to_code`` ranks above ``from_code`` (joining the lowest tier is not)."""
    ranks = dict(
        MembershipTier.objects.filter(
            channel_slug=channel_slug, code__in=[from_code, to_code]
        ).values_list("code", "rank")
    )
    if to_code not in ranks:
        return False
    if not from_code:
        lowest = MembershipTier.objects.filter(channel_slug=channel_slug).order_by("rank").first()
        return lowest is not None and lowest.code != to_code
    return from_code in ranks and ranks[to_code] > ranks[from_code]
