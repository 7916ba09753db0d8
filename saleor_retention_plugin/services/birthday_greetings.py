"""Birthday greetings with a tier-dependent gift, once per customer per year.

Where birthdays come from: ``CustomerProfile`` only (Saleor has no birthday field); the
customer sets it through ``birthdaySet`` (staff for anyone), once a year. One source.

Who is greeted: registered customers with a live account in the channel whose birthday is
today in the channel's timezone (Saleor stores no timezone per customer; the pure rules in
``domain.birthdays`` take any zone), from ``birthday_greeting_hour`` until the day ends.
29 February birthdays are celebrated on 28 February in common years.

The gift is the tier's active ``birthday_gift`` benefit: ``value`` points (the best one if
a tier has several) and, in its ``config``, ``{"coupon": "10%"}`` (or a fixed amount such
as ``"5"``) for a single-use coupon; either or both. ``BirthdayGreeting`` (unique per
channel, customer and year) makes the greeting once a year; the points use the ledger key
``birthday:<account>:<year>``, the same as the daily ``grant_birthday_gifts``, so the two
can never both give them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Q

from ..config_values import parse_discount
from ..domain.birthdays import birthdays_on, greeting_due_year
from ..models import (
    BenefitKind,
    BirthdayGreeting,
    CustomerProfile,
    LoyaltyAccount,
    PointsEntry,
    TierBenefit,
)
from .ledger import adjust_points

if TYPE_CHECKING:
    from datetime import datetime

    from ..conf import ChannelSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BirthdayGift:
    points: int = 0
    coupon: str = ""  # a discount such as "10%" or "5"; "" for none


@dataclass(frozen=True)
class BirthdayDue:
    """A customer to greet now, with their tier's gift."""

    customer_id: int
    account_id: int
    year: int  # the local year of the birthday: the once-a-year key
    tier_code: str  # "" without a tier
    gift: BirthdayGift


def birthday_greetings_due(
    channel_slug: str, settings: ChannelSettings, now: datetime
) -> list[BirthdayDue]:
    """Everyone to greet in the channel at ``now`` (empty when greetings are off).

    Set-based: one query for the customers, one for the gifts of the channel's tiers;
    the cost follows the customers born today, not the customer base.
    """
    if not settings.care.birthday_greetings_enabled:
        return []
    zone = ZoneInfo(settings.ledger.timezone)
    local_day = now.astimezone(zone).date()
    born_today = Q()
    for month, day in birthdays_on(local_day):
        born_today |= Q(birth_month=month, birth_day=day)
    hour = settings.care.birthday_greeting_hour
    # Any customer born today tells whether the greeting hour has come (same zone for all).
    month, day = birthdays_on(local_day)[0]
    year = greeting_due_year(month, day, now, zone, hour)
    if year is None:
        return []
    greeted = BirthdayGreeting.objects.filter(channel_slug=channel_slug, year=year).values(
        "customer_id"
    )
    rows = (
        LoyaltyAccount.objects.filter(
            channel_slug=channel_slug,
            merged_into__isnull=True,
            customer_id__in=CustomerProfile.objects.filter(born_today).values("customer_id"),
        )
        .exclude(customer_id__in=greeted)
        .order_by("customer_id")
        .values_list("customer_id", "pk", "membership__tier__code")
    )
    gifts = tier_birthday_gifts(channel_slug)
    return [
        BirthdayDue(
            customer_id, account_id, year, code or "", gifts.get(code or "", BirthdayGift())
        )
        for customer_id, account_id, code in rows
        if customer_id is not None  # always: filtered by a customer's birthday
    ]


def tier_birthday_gifts(channel_slug: str) -> dict[str, BirthdayGift]:
    """Tier code -> its birthday gift (tiers without one are left out)."""
    gifts: dict[str, BirthdayGift] = {}
    benefits = TierBenefit.objects.filter(
        kind=BenefitKind.BIRTHDAY_GIFT, is_active=True, tier__channel_slug=channel_slug
    ).values_list("tier__code", "value", "config", "pk")
    for code, value, config, benefit_id in benefits:
        known = gifts.get(code, BirthdayGift())
        points = max(known.points, int(value or Decimal(0)))
        coupon = known.coupon
        raw_coupon = (config or {}).get("coupon") if isinstance(config, dict) else None
        if raw_coupon and not coupon:
            try:
                coupon = parse_discount(raw_coupon)
            except ValueError:
                logger.warning(
                    "Birthday gift %s has an unreadable coupon %r", benefit_id, raw_coupon
                )
        gifts[code] = BirthdayGift(points, coupon)
    return gifts


def record_birthday_greeting(
    channel_slug: str, due: BirthdayDue, settings: ChannelSettings, *, now: datetime
) -> bool:
    """Record the greeting of ``due`` and give its gift points, once a year.

    Returns False (and changes nothing) when the customer was already greeted that year.
    The caller sends the message and issues the coupon (``due.gift.coupon``) after this
    returned True, in the same transaction as its outbox row.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                BirthdayGreeting.objects.create(
                    channel_slug=channel_slug,
                    customer_id=due.customer_id,
                    year=due.year,
                    tier_code=due.tier_code,
                    gift_points=due.gift.points,
                    gift_coupon=due.gift.coupon,
                    greeted_at=now,
                )
        except IntegrityError:
            return False
        key = f"birthday:{due.account_id}:{due.year}"
        if due.gift.points > 0 and not PointsEntry.objects.filter(idempotency_key=key).exists():
            adjust_points(
                due.account_id,
                due.gift.points,
                reason="Happy birthday! 生日快乐！",
                texts={"en": "Happy birthday!", "zh-Hans": "生日快乐！"},
                actor="system:birthday-gift",
                idempotency_key=key,
                settings=settings.ledger,
                now=now,
            )
    return True


def birthday_greeting_still_due(channel_slug: str, customer_id: int, year: int) -> bool:
    """At send time: the customer still has a birthday on file and was not greeted yet."""
    return (
        CustomerProfile.objects.filter(customer_id=customer_id).exists()
        and not BirthdayGreeting.objects.filter(
            channel_slug=channel_slug, customer_id=customer_id, year=year
        ).exists()
    )
