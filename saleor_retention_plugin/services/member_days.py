"""Member days: scheduling windows, their multiplier at the order intake, announcements.

Rules in ``domain.member_days``. Writes of one channel's windows are serialised with a
PostgreSQL advisory lock, so two staff scheduling at once cannot both pass the overlap
check. A window's multiplier applies to orders *placed* in it (Saleor's order creation
time), whenever their points are credited; deleting or moving a window later does not
change points already earned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, transaction
from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Concat

from ..domain.earning import order_multiplier
from ..domain.member_days import (
    MemberDayWindow,
    announcement_order,
    multiplier_at,
    window_problems,
)
from ..models import (
    CustomerTier,
    FlowEnrolment,
    LoyaltyAccount,
    MemberDay,
    MembershipTier,
)
from . import scan_gates
from .errors import InvalidInput, NotFound
from .tiers.evaluation import tier_standing

MAX_NAME_LENGTH = 255
FIELDS = ("name", "starts_at", "ends_at", "multiplier", "early_access_hours", "announce_hours")


def schedule_member_day(channel_slug: str, **values: Any) -> MemberDay:
    """Schedule a window.

    ``values``: name, starts_at, ends_at (aware datetimes),
    multiplier (Decimal > 0, at most 10), early_access_hours ({tier code: hours}),
    announce_hours (int). Raises ``InvalidInput`` with every bad field (camelCase names
    as in the API); nothing is written then.
    """
    with transaction.atomic():
        _lock_channel(channel_slug)
        day = MemberDay(channel_slug=channel_slug, announce_hours=48)
        _apply(day, values, require_all=True)
        day.save()
        scan_gates.inputs_changed(scan_gates.MEMBER_DAYS)  # its announcements' scan
    return day


def update_member_day(channel_slug: str, member_day_id: int, **changes: Any) -> MemberDay:
    """Change some fields of a window of the channel (same rules as scheduling)."""
    with transaction.atomic():
        _lock_channel(channel_slug)
        day = MemberDay.objects.filter(channel_slug=channel_slug, pk=member_day_id).first()
        if day is None:
            raise NotFound("No such member day in this channel.", field="id")
        _apply(day, changes, require_all=False)
        day.save()
        scan_gates.inputs_changed(scan_gates.MEMBER_DAYS)
    return day


def cancel_member_day(channel_slug: str, member_day_id: int) -> None:
    """Delete a window; points already earned in it stay."""
    with transaction.atomic():
        deleted, _ = MemberDay.objects.filter(channel_slug=channel_slug, pk=member_day_id).delete()
        scan_gates.inputs_changed(scan_gates.MEMBER_DAYS)
    if not deleted:
        raise NotFound("No such member day in this channel.", field="id")


def order_earning_multiplier(account: LoyaltyAccount, placed_at: datetime) -> Decimal:
    """The multiplier an order placed at ``placed_at`` earns with on ``account``.

    Its tier's multiplier times the channel's member-day multiplier (``domain.earning``),
    read the way the order intake reads them (``tiers.tier_standing``: the ladder's query
    carries the member day).
    """
    standing = tier_standing(account, member_day_at=placed_at)
    return order_multiplier(standing.multiplier, standing.member_day_multiplier)


def member_day_multiplier(channel_slug: str, moment: datetime) -> Decimal:
    """The multiplier of the channel's window containing ``moment``, 1 if none. One query."""
    windows = [
        _window(day)
        for day in MemberDay.objects.filter(
            channel_slug=channel_slug, starts_at__lte=moment, ends_at__gt=moment
        )
    ]
    return multiplier_at(moment, windows)


@dataclass(frozen=True)
class MemberDayAnnouncement:
    """One member to tell about a window, now."""

    member_day_id: int
    account_id: int
    customer_id: int
    tier_code: str  # "" for members without a tier
    access_starts_at: datetime
    email: str | None = None  # the account's, when known


def member_day_announcements_due(
    channel_slug: str,
    now: datetime,
    *,
    already_told: frozenset[tuple[int, int]] = frozenset(),
    skip_enrolled_in: str = "",
) -> list[MemberDayAnnouncement]:
    """Members to tell about upcoming windows now, higher tiers first.

    A member is due from their tier's announcement moment until their access starts;
    ``already_told`` holds (member day id, account id) pairs the caller already sent;
    ``skip_enrolled_in`` (a flow name) leaves out, in SQL, customers that flow already
    enrolled for the window (subject ``customer:<id>``, cycle the window's id: the
    unique enrolment index answers), so a scan costs the members still to tell.
    Registered customers' live accounts only (guests have no one to greet). Cost: one
    query for the windows and one per (window, tier) that is due, each reading that
    tier's members by index (members without a tier: the channel's accounts).
    """
    tiers = _tiers_low_to_high(channel_slug)
    due: list[MemberDayAnnouncement] = []
    for day in MemberDay.objects.filter(channel_slug=channel_slug, starts_at__gt=now):
        window = _window(day)
        for code in announcement_order(tiers):
            if not window.announce_at(code) <= now < window.access_starts_at(code):
                continue
            accounts = LoyaltyAccount.objects.filter(
                channel_slug=channel_slug, customer_id__isnull=False, merged_into__isnull=True
            )
            if code is None:
                accounts = accounts.filter(membership__isnull=True)
            else:
                accounts = accounts.filter(membership__tier__code=code)
            if skip_enrolled_in:
                accounts = accounts.exclude(
                    Exists(
                        FlowEnrolment.objects.filter(
                            flow=skip_enrolled_in,
                            channel_slug=channel_slug,
                            cycle=day.pk,
                            subject_key=Concat(
                                Value("customer:"),
                                Cast(OuterRef("customer_id"), CharField()),
                                output_field=CharField(),
                            ),
                        )
                    )
                )
            for account_id, customer_id, email in accounts.order_by("pk").values_list(
                "pk", "customer_id", "email"
            ):
                if customer_id is None or (day.pk, account_id) in already_told:
                    continue
                due.append(
                    MemberDayAnnouncement(
                        day.pk,
                        account_id,
                        customer_id,
                        code or "",
                        window.access_starts_at(code),
                        email,
                    )
                )
    return due


def announcements_opened(now: datetime) -> list[tuple[str, str]]:
    """Channels with a window whose announcements run now, and a signature of which.

    ``(channel, signature)``: the signature names each window (id and when it was
    written) and the tiers whose announcement moment has come and whose access has not
    started; it changes when another tier's announcement opens (or a window is edited),
    so a scan gated on it looks again at once. One query for the windows, and one per
    channel with a window whose announcements may have begun (the sweep asks every
    minute: a window announced days ahead costs one query until then).
    """
    opened: dict[str, list[str]] = {}
    tiers: dict[str, list[str]] = {}
    for day in MemberDay.objects.filter(starts_at__gt=now).order_by("channel_slug", "pk"):
        if not _may_announce(_window(day), now):
            continue
        if day.channel_slug not in tiers:
            tiers[day.channel_slug] = _tiers_low_to_high(day.channel_slug)
        window = _window(day)
        codes = [
            code or "-"
            for code in announcement_order(tiers[day.channel_slug])
            if window.announce_at(code) <= now < window.access_starts_at(code)
        ]
        if codes:
            stamp = day.updated_at.timestamp() if day.updated_at else 0
            opened.setdefault(day.channel_slug, []).append(f"{day.pk}@{stamp}={'+'.join(codes)}")
    return [(channel, ";".join(parts)) for channel, parts in opened.items()]


def announcements_change_after(now: datetime) -> tuple[bool, datetime | None]:
    """Whether announcements run at ``now``, and the next moment they may change.

    Running: some window's tier is told now (as ``announcements_opened``). The moment:
    the first after ``now`` at which a tier's announcement opens or its access starts
    (None: no window ahead); until then, with no window or tier written,
    ``announcements_opened`` answers the same. One query, one per channel's tiers.
    """
    running, moments = False, list[datetime]()
    tiers: dict[str, list[str]] = {}
    for day in MemberDay.objects.filter(starts_at__gt=now).order_by("channel_slug", "pk"):
        if day.channel_slug not in tiers:
            tiers[day.channel_slug] = _tiers_low_to_high(day.channel_slug)
        window = _window(day)
        for code in announcement_order(tiers[day.channel_slug]):
            opens, access = window.announce_at(code), window.access_starts_at(code)
            running = running or (window.announce_hours >= 0 and opens <= now < access)
            moments.extend(moment for moment in (opens, access) if moment > now)
        moments.append(day.starts_at)
    return running, min(moments, default=None)


def _may_announce(window: MemberDayWindow, now: datetime) -> bool:
    """Whether some tier's announcement of ``window`` may have opened by ``now``.

    Needs no tiers: the earliest announcement is the longest early access (or none)
    plus ``announce_hours`` before the start; a negative ``announce_hours`` never opens.
    """
    if window.announce_hours < 0:
        return False
    hours = window.early_access_hours.values()
    lead = max((0, *(value for value in hours if isinstance(value, int | float))))
    return window.starts_at - timedelta(hours=lead + window.announce_hours) <= now


def access_starts_at(channel_slug: str, member_day_id: int, account_id: int) -> datetime:
    """When this member may shop the window (their tier's early access)."""
    day = MemberDay.objects.get(channel_slug=channel_slug, pk=member_day_id)
    code = (
        CustomerTier.objects.filter(account_id=account_id)
        .values_list("tier__code", flat=True)
        .first()
    )
    return _window(day).access_starts_at(code)


def _apply(day: MemberDay, values: dict[str, Any], *, require_all: bool) -> None:
    errors: dict[str, str] = {}
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise InvalidInput({sorted(unknown)[0]: "Unknown field."})
    if require_all:
        for name, api_name in (("name", "name"), ("starts_at", "startsAt"), ("ends_at", "endsAt")):
            if values.get(name) in (None, ""):
                errors[api_name] = "This field is required."
        values.setdefault("multiplier", Decimal(2))
    for name, value in values.items():
        if value is None and name in ("early_access_hours", "announce_hours", "multiplier"):
            continue
        if name == "name":
            text = str(value or "").strip()
            if not text or len(text) > MAX_NAME_LENGTH:
                errors["name"] = f"Enter a name of 1 to {MAX_NAME_LENGTH} characters."
            day.name = text
        elif name in ("starts_at", "ends_at"):
            api_name = "startsAt" if name == "starts_at" else "endsAt"
            if not isinstance(value, datetime) or value.tzinfo is None:
                errors.setdefault(api_name, "Enter a date and time with a timezone.")
            else:
                setattr(day, name, value)
        elif name == "multiplier":
            try:
                day.multiplier = Decimal(str(value))
            except InvalidOperation:
                errors["multiplier"] = "Enter a number, for example 2 or 1.5."
        elif name == "early_access_hours":
            if not isinstance(value, dict):
                errors["earlyAccessHours"] = 'Enter tier codes and hours, e.g. {"gold": 24}.'
            else:
                day.early_access_hours = dict(value)
        elif name == "announce_hours":
            day.announce_hours = value
    if errors:
        raise InvalidInput(errors)
    others = [
        _window(other)
        for other in MemberDay.objects.filter(
            channel_slug=day.channel_slug,
            starts_at__lt=day.ends_at,
            ends_at__gt=day.starts_at,
        ).exclude(pk=day.pk)
    ]
    problems = window_problems(
        _window(day), others, tiers_low_to_high=_tiers_low_to_high(day.channel_slug)
    )
    if problems:
        raise InvalidInput(problems)


def _window(day: MemberDay) -> MemberDayWindow:
    return MemberDayWindow(
        starts_at=day.starts_at,
        ends_at=day.ends_at,
        multiplier=Decimal(day.multiplier),
        early_access_hours=dict(day.early_access_hours or {}),
        announce_hours=day.announce_hours if isinstance(day.announce_hours, int) else -1,
        window_id=day.pk,
    )


def _tiers_low_to_high(channel_slug: str) -> list[str]:
    return list(
        MembershipTier.objects.filter(channel_slug=channel_slug)
        .order_by("rank")
        .values_list("code", flat=True)
    )


def _lock_channel(channel_slug: str) -> None:
    """Serialise member-day writes of a channel (overlap checks) until the transaction ends.

    PostgreSQL: an advisory lock; SQLite (the sandbox) serialises every writer already.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"retention-member-days:{channel_slug}"]
        )
