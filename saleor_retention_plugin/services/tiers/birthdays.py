"""Customers' birthdays and their tier's birthday gift points, once a year."""

from __future__ import annotations

import calendar
import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from ...models import (
    BenefitKind,
    CustomerProfile,
    PointsEntry,
    TierBenefit,
)
from .. import scan_gates
from ..errors import FieldError, InvalidInput, RetentionError
from ..inputs import is_whole_number

if TYPE_CHECKING:
    from ...conf import ChannelSettings

logger = logging.getLogger(__name__)


BIRTHDAY_CHANGE_INTERVAL = timedelta(days=365)


class BirthdayLocked(RetentionError):
    code = "birthday_locked"


def set_birthday(
    customer_id: int,
    *,
    month: int,
    day: int,
    year: int | None = None,
    now: datetime | None = None,
    staff: bool = False,
) -> CustomerProfile:
    """Record the customer's birthday. Customers may change it once a year (staff always),
    so birthday gifts cannot be farmed. Raises ``InvalidInput`` (fields month, day, year)
    or ``BirthdayLocked``."""
    now = now or timezone.now()
    errors = birthday_errors(month, day, year, today_year=now.year)
    if errors:
        raise InvalidInput(errors)
    if not is_whole_number(customer_id):
        raise InvalidInput({"customer_id": "Unknown customer."})
    with transaction.atomic():
        profile = (
            CustomerProfile.objects.select_for_update().filter(customer_id=customer_id).first()
        )
        if profile is None:
            try:
                with transaction.atomic():
                    scan_gates.inputs_changed(scan_gates.BIRTHDAYS)  # greeted today if due
                    return CustomerProfile.objects.create(
                        customer_id=customer_id,
                        birth_month=month,
                        birth_day=day,
                        birth_year=year,
                        birthday_set_at=now,
                    )
            except IntegrityError:
                profile = CustomerProfile.objects.select_for_update().get(customer_id=customer_id)
        if (profile.birth_month, profile.birth_day, profile.birth_year) == (month, day, year):
            return profile
        if not staff and profile.birthday_set_at > now - BIRTHDAY_CHANGE_INTERVAL:
            next_change = profile.birthday_set_at + BIRTHDAY_CHANGE_INTERVAL
            raise BirthdayLocked(
                "Your birthday can be changed once a year; next on "
                f"{next_change.date().isoformat()}. Contact us to correct it sooner.",
                # The API's argument (month, day, year); "month" leads it.
                field="month",
                zh=f"生日每年只能修改一次，下次可修改日期为 {next_change.date().isoformat()}。"
                "如需尽快更正，请联系我们。",
            )
        profile.birth_month, profile.birth_day, profile.birth_year = month, day, year
        profile.birthday_set_at = now
        profile.save()
        scan_gates.inputs_changed(scan_gates.BIRTHDAYS)
        return profile


def birthday_errors(month: Any, day: Any, year: Any, *, today_year: int) -> list[FieldError]:
    """Customer-facing problems with a birthday, in English and Simplified Chinese."""
    errors: list[FieldError] = []

    def refuse(field: str, english: str, chinese: str) -> None:
        errors.append(FieldError(field, "invalid", english, {"zh-Hans": chinese}))

    month_ok = is_whole_number(month) and 1 <= month <= 12
    if not month_ok:
        refuse("month", "Enter the month as a whole number from 1 to 12.", "月份请填写 1 到 12。")
    year_ok = year is None or (is_whole_number(year) and 1900 <= year <= today_year)
    if not year_ok:
        refuse(
            "year",
            f"Enter a year from 1900 to {today_year}, or leave it empty.",
            f"年份请填写 1900 到 {today_year}，或留空。",
        )
    if not is_whole_number(day):
        refuse("day", "Enter the day as a whole number.", "日期请填写整数。")
    elif month_ok:
        # Without a year, 29 February is allowed (leap-year birthdays exist).
        leap_or_given = year if year is not None and year_ok else 2000
        days = calendar.monthrange(leap_or_given, month)[1]
        if not (1 <= day <= days):
            refuse("day", f"That month has days 1 to {days}.", f"该月只有 1 到 {days} 日。")
    return errors


def grant_birthday_gifts(
    channel_slug: str, settings: ChannelSettings, *, now: datetime | None = None
) -> int:
    """Give today's birthday customers of the channel their tier's birthday gift points.

    "Today" is the shop's day in its timezone; 29 February birthdays are celebrated on
    28 February in other years. The ledger key ``birthday:<account>:<year>`` makes the
    gift once a year whatever runs twice. Returns how many gifts were given now.
    """
    from zoneinfo import ZoneInfo

    from ..ledger import adjust_points

    now = now or timezone.now()
    today = now.astimezone(ZoneInfo(settings.ledger.timezone)).date()
    days = [(today.month, today.day)]
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        days.append((2, 29))
    born_today = Q()
    for month, day in days:
        born_today |= Q(birth_month=month, birth_day=day)
    customers = CustomerProfile.objects.filter(born_today).values_list("customer_id", flat=True)
    gifts = (
        TierBenefit.objects.filter(
            kind=BenefitKind.BIRTHDAY_GIFT,
            is_active=True,
            tier__channel_slug=channel_slug,
            tier__members__account__customer_id__in=customers,
            tier__members__account__merged_into__isnull=True,
        )
        .values_list("tier__members__account_id", "value")
        .order_by("tier__members__account_id")
    )
    best: dict[int, Decimal] = {}
    for account_id, value in gifts:
        best[account_id] = max(best.get(account_id, Decimal(0)), value or Decimal(0))
    given = 0
    for account_id, points in best.items():
        key = f"birthday:{account_id}:{today.year}"
        if points <= 0 or PointsEntry.objects.filter(idempotency_key=key).exists():
            continue
        adjust_points(
            account_id,
            int(points),
            reason="Happy birthday! 生日快乐！",
            texts={"en": "Happy birthday!", "zh-Hans": "生日快乐！"},
            actor="system:birthday-gift",
            idempotency_key=key,
            settings=settings.ledger,
            now=now,
        )
        given += 1
    return given


def birthday_of(customer_id: int) -> CustomerProfile | None:
    return CustomerProfile.objects.filter(customer_id=customer_id).first()


def anonymise_membership(customer_id: int) -> int:
    """Delete the customer's birthday; returns rows deleted."""
    deleted, _ = CustomerProfile.objects.filter(customer_id=customer_id).delete()
    return deleted
