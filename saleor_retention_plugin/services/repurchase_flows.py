"""Replenishment and win-back on the engine: enrol what the kept due rows say is due.

Both flows start from a periodic scan (``EnrolmentFlow.scan``) over their kept due rows
(``services.replenishment`` / ``services.winback``, rebuilt by ``refresh_lifecycle_task``)
and check the history again before every step and right before the send, so a reorder, a
refund or an anonymisation between two refreshes stops the message.

* ``replenishment``: one enrolment per customer, product and last purchase (the cycle is
  the purchase's day, ``YYYYMMDD``), one message: the product link and "customers who
  bought this also bought". Only a reorder of the product stops it (or the product no
  longer being sold); other orders do not.
* ``winback``: one enrolment per customer and last order, the escalating steps of
  ``settings.winback.policy`` from the moment they became dormant; any order stops it.
  High-value customers get the perk, price-sensitive ones the step's discount as a
  single-use coupon (``Ready.incentive``). A sweep that was down sends only the latest
  overdue step.

Scan cost: the sweep runs every minute but each flow scans a channel at most once per
``app_settings.REPURCHASE_SCAN_EVERY`` (``SCAN_EVERY``, an hour, by default; a cache key
per flow, channel and period, so processes sharing a cache share the gate), reading the
due rows of the last ``LOOKBACK`` (an index range: cost follows what is due) and
leaving out subjects already enrolled in one query. Rows due
longer ago than ``LOOKBACK`` (the flow was just switched on, the sweep was down for a
week) are left alone: a reminder that late is stale.

Language: the purchase history keeps none, so it comes from the customer's profile
(Saleor's ``User.language_code``) inside Saleor, else the language of the customer's
latest enrolment or cart in the channel (their orders' and checkouts' language), else
English.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from django.core.cache import cache
from django.db import connection
from django.db.models import Q

from .. import app_settings
from ..conf import incentive_from_text
from ..domain import winback as winback_rules
from ..domain.customers import normalise_email
from ..domain.history import customer_key
from ..models import (
    FlowEnrolment,
    PurchasedOrder,
    ReplenishmentDue,
    SubjectKind,
    TrackedCart,
    WinbackDue,
)
from . import lifecycle_content, replenishment, scan_gates, winback
from .consent import email_digest
from .enrolments import (
    Complete,
    EnrolmentFlow,
    EnrolmentRequest,
    SendStep,
    StopEnrolment,
    Subject,
    WaitUntil,
)
from .flows import Cancel, Due, Preparation, Ready, channel_settings_loader
from .recommendations import product_catalogue

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from zoneinfo import ZoneInfo

    from django.db.models import Model

    from ..conf import ChannelSettings
    from ..models import FlowMessage
    from .due_rows import DueSubject
    from .enrolments import Decision

SCAN_EVERY = app_settings.DEFAULT_REPURCHASE_SCAN_EVERY
LOOKBACK = timedelta(days=7)
# Win-back coupons last as long as the gap to the next step (at least a week).
WINBACK_COUPON_MIN_DAYS = 7


# --- shared by both flows --------------------------------------------------------------


def scan_channels(
    model: type[Model], flow: EnrolmentFlow, now: datetime
) -> Iterator[tuple[str, ChannelSettings]]:
    """Channels (and settings) holding ``model`` rows, ``flow`` on, not scanned this period.

    Finds the channels in one statement (``channels_holding``), and takes the period's
    gate with an atomic ``cache.add``.
    """
    load = channel_settings_loader()
    every = app_settings.REPURCHASE_SCAN_EVERY
    period = int(now.timestamp() // every.total_seconds())
    for channel in channels_holding(model):
        gate = f"retention:scan:{flow.name}:{channel}:{period}"
        if cache.get(gate) is not None:
            continue  # scanned this period: no settings to load
        settings = load(channel)
        if settings is None or not flow.is_enabled(settings):
            continue
        if cache.add(gate, 1, timeout=int(2 * every.total_seconds())):
            yield channel, settings


def next_period(now: datetime) -> datetime:
    """``scan_quiet_until`` of both flows: the start of the next scan period.

    A scan takes the period's gate of every channel it reads (``scan_channels``), so no
    scan finds anything new before the next period; a channel switched on meanwhile
    (``scan_gates.CHANNEL_SETTINGS``) or holding its first plan rows (the refresh's
    ``scan_gates.REPURCHASE_PLAN``) re-opens it at once.
    """
    every = app_settings.REPURCHASE_SCAN_EVERY.total_seconds()
    return datetime.fromtimestamp((now.timestamp() // every + 1) * every, tz=UTC)


def channels_holding(model: type[Model]) -> list[str]:
    """The distinct ``channel_slug`` values of ``model``'s rows, in the database's order.

    One statement that seeks the ``(channel_slug, ...)`` index once per channel (a
    recursive ``MIN(channel_slug) > previous``, PostgreSQL and SQLite alike), so its cost
    follows the channels, not the rows; the sweep runs it every minute for each flow.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE channels(slug) AS ("
            f" SELECT MIN(channel_slug) FROM {table}"
            " UNION ALL"
            f" SELECT (SELECT MIN(channel_slug) FROM {table} WHERE channel_slug > channels.slug)"
            " FROM channels WHERE channels.slug IS NOT NULL"
            ") SELECT slug FROM channels WHERE slug IS NOT NULL ORDER BY slug"
        )
        return [slug for (slug,) in cursor.fetchall()]


def subject_of(kind: str, customer_id: int | None, email: str | None, product_id: str = "") -> str:
    """The enrolment's subject key: by customer id, a guest by their email's digest."""
    who = f"customer:{customer_id}" if customer_id is not None else f"email:{email_digest(email)}"
    return f"{who}:product:{product_id}" if kind == SubjectKind.CUSTOMER_PRODUCT else who


def customer_languages(channel: str, dues: Iterable[DueSubject]) -> dict[str, str]:
    """``{customer_key: language code}`` for the due customers whose language is known.

    Inside Saleor the user's ``language_code``; otherwise (and for guests) the language
    of their latest enrolment or tracked cart in the channel. Three queries at most.
    """
    dues = list(dues)
    ids = {due.customer_id for due in dues if due.customer_id is not None}
    emails = {normalise_email(due.email) for due in dues if due.email}
    emails.discard(None)
    if not ids and not emails:
        return {}  # nobody to look up (most scans): no queries to build
    by_id: dict[int, str] = {}
    by_email: dict[str, str] = {}
    for model in (TrackedCart, FlowEnrolment):  # the later rows win
        rows = (
            model._default_manager.filter(channel_slug=channel)
            .filter(Q(customer_id__in=ids) | Q(email__in=emails))
            .order_by("created_at")
            .values_list("customer_id", "email", "language_code")
        )
        for customer_id, email, language in rows:
            if customer_id is not None:
                by_id[customer_id] = language
            if email:
                by_email[email] = language
    if ids and app_settings.SALEOR_INSTALLED:
        from ..integrations.saleor.users import saleor_user_languages

        by_id.update(saleor_user_languages(ids))
    languages = {}
    for due in dues:
        language = by_id.get(due.customer_id) if due.customer_id is not None else None
        language = language or by_email.get(normalise_email(due.email) or "")
        if language:
            languages[due.customer_key] = language
    return languages


def requests_for(
    flow: EnrolmentFlow, channel: str, dues: list[DueSubject]
) -> Iterator[EnrolmentRequest]:
    """One request per subject and cycle not yet enrolled (one query for the check)."""
    if not dues:
        return  # most scans find nobody due: no queries to build
    keyed: dict[tuple[str, int], DueSubject] = {}
    for due in dues:
        subject = subject_of(
            flow.subject_kind, due.customer_id, due.email, str(due.data.get("product_id", ""))
        )
        keyed.setdefault((subject, due.cycle), due)  # earliest step of the subject
    known = set(
        FlowEnrolment.objects.filter(
            flow=flow.name,
            channel_slug=channel,
            subject_key__in={subject for subject, _ in keyed},
        ).values_list("subject_key", "cycle")
    )
    fresh = {key: due for key, due in keyed.items() if key not in known}
    if not fresh:
        return  # every one enrolled already
    languages = customer_languages(channel, fresh.values())
    for (subject, cycle), due in fresh.items():
        yield EnrolmentRequest(
            subject=Subject(flow.subject_kind, subject),
            channel_slug=channel,
            anchor_at=due.anchor_at,
            customer_id=due.customer_id,
            email=due.email,
            language_code=languages.get(due.customer_key, "en"),
            cycle=cycle,
            data={key: value for key, value in due.data.items() if key == "product_id"},
        )


def history_key(enrolment: FlowEnrolment) -> str:
    """The purchase history's key of the enrolled customer (for the re-checks)."""
    return customer_key(enrolment.customer_id, enrolment.email)


# --- replenishment ---------------------------------------------------------------------


class ReplenishmentFlow(EnrolmentFlow):
    name = replenishment.FLOW
    subject_kind = SubjectKind.CUSTOMER_PRODUCT
    scan_inputs = (scan_gates.REPURCHASE_PLAN, scan_gates.CHANNEL_SETTINGS)

    def is_enabled(self, settings: ChannelSettings) -> bool:
        return settings.replenishment.replenishment_enabled

    def scan_signature(self) -> str:
        return f"every={app_settings.REPURCHASE_SCAN_EVERY.total_seconds():g}s"

    def scan_quiet_until(self, now: datetime) -> datetime | None:
        return next_period(now)

    def scan(self, now: datetime) -> Iterator[EnrolmentRequest]:
        catalogue = product_catalogue()
        for channel, _ in scan_channels(ReplenishmentDue, self, now):
            due = replenishment.due_replenishments(channel, now - LOOKBACK, now, catalogue)
            yield from requests_for(self, channel, due)

    def still_due(self, enrolment: FlowEnrolment, now: datetime) -> bool:
        return replenishment.replenishment_still_due(
            enrolment.channel_slug,
            history_key(enrolment),
            str(enrolment.data.get("product_id", "")),
            enrolment.anchor_at,
            product_catalogue(),
            now=now,
        )

    def advance(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime
    ) -> Decision:
        if not self.still_due(enrolment, now):
            return StopEnrolment("no_longer_due")  # reordered, refunded, no longer sold
        return SendStep(1, None)

    def compose(
        self,
        enrolment: FlowEnrolment,
        message: FlowMessage,
        settings: ChannelSettings,
        now: datetime,
    ) -> Preparation:
        if not self.still_due(enrolment, now):
            return Cancel("no_longer_due")
        zone = self.zone(enrolment, settings)
        return Due(zone, lambda: self.reminder(enrolment, settings, now, zone))

    def reminder(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime, zone: ZoneInfo
    ) -> Ready:
        """The reminder, built when it goes out (``compose`` checked it is still due)."""
        context = lifecycle_content.replenishment_context(
            enrolment.channel_slug,
            history_key(enrolment),
            enrolment.data,
            settings,
            product_catalogue(),
            now,
        )
        incentive = settings.replenishment.incentive
        currency = ""
        if incentive is not None:
            currency = purchase_currency(enrolment.channel_slug, history_key(enrolment))
        return Ready(context=context, zone=zone, incentive=incentive, currency=currency)


def purchase_currency(channel: str, customer_key: str) -> str:
    """The currency of the customer's latest order in the channel ("" when none)."""
    return (
        PurchasedOrder.objects.filter(channel_slug=channel, customer_key=customer_key)
        .order_by("-placed_at")
        .values_list("currency", flat=True)
        .first()
    ) or ""


# --- win-back --------------------------------------------------------------------------


class WinbackFlow(EnrolmentFlow):
    name = winback.FLOW
    subject_kind = SubjectKind.CUSTOMER
    stops_on_order = True
    scan_inputs = (scan_gates.REPURCHASE_PLAN, scan_gates.CHANNEL_SETTINGS)

    def is_enabled(self, settings: ChannelSettings) -> bool:
        return settings.winback.winback_enabled

    def scan_signature(self) -> str:
        return f"every={app_settings.REPURCHASE_SCAN_EVERY.total_seconds():g}s"

    def scan_quiet_until(self, now: datetime) -> datetime | None:
        return next_period(now)

    def scan(self, now: datetime) -> Iterator[EnrolmentRequest]:
        for channel, settings in scan_channels(WinbackDue, self, now):
            # Every step's rows: a customer whose first step went by unseen still gets
            # the latest one due (``advance`` picks it).
            due = winback.due_winback_steps(channel, settings.winback, now - LOOKBACK, now)
            yield from requests_for(self, channel, due)

    def kept_row(self, enrolment: FlowEnrolment) -> WinbackDue | None:
        """The customer's due row while the series still runs (no order since, anchor counts).

        ``high_value`` and ``price_sensitive`` are the customer's stored segment's now.
        """
        rows = winback.with_current_segment(
            winback.still_dormant(
                WinbackDue.objects.filter(
                    channel_slug=enrolment.channel_slug,
                    customer_key=history_key(enrolment),
                    last_order_at=enrolment.anchor_at,
                )
            )[:1]
        )
        return rows[0] if rows else None

    def advance(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime
    ) -> Decision:
        row = self.kept_row(enrolment)
        if row is None:
            return StopEnrolment("no_longer_due")  # ordered again, or the order was undone
        move = winback_rules.next_step(
            row.dormant_at, settings.winback.policy, enrolment.next_step - 1, now
        )
        if move.step is not None:
            return SendStep(move.step, move.check_at)
        return WaitUntil(move.check_at) if move.check_at is not None else Complete()

    def compose(
        self,
        enrolment: FlowEnrolment,
        message: FlowMessage,
        settings: ChannelSettings,
        now: datetime,
    ) -> Preparation:
        row = self.kept_row(enrolment)
        if row is None:
            return Cancel("no_longer_due")
        zone = self.zone(enrolment, settings)
        return Due(zone, lambda: self.step_message(row, enrolment, message, settings, now, zone))

    def step_message(
        self,
        row: WinbackDue,
        enrolment: FlowEnrolment,
        message: FlowMessage,
        settings: ChannelSettings,
        now: datetime,
        zone: ZoneInfo,
    ) -> Ready:
        """The step's message, built when it goes out (``compose`` checked it is still due)."""
        key = history_key(enrolment)
        currency = (
            PurchasedOrder.objects.filter(
                channel_slug=enrolment.channel_slug, order_id=row.last_order_id
            )
            .values_list("currency", flat=True)
            .first()
        ) or ""
        context = lifecycle_content.winback_context(
            enrolment.channel_slug,
            key,
            message.step,
            {"high_value": row.high_value, "price_sensitive": row.price_sensitive},
            settings,
            product_catalogue(),
            now,
            currency=currency,
        )
        incentive = None
        if context["incentive"] == winback_rules.IncentiveKind.DISCOUNT and context["discount"]:
            incentive = incentive_from_text(
                context["discount"], coupon_days(settings.winback.policy, message.step)
            )
        return Ready(context=context, zone=zone, incentive=incentive, currency=currency)


def coupon_days(policy: winback_rules.WinbackPolicy, step: int) -> int:
    """A step's coupon lasts until the next step (at least a week; the last: two weeks)."""
    days = [item.days_after for item in policy.steps]
    gap = days[step] - days[step - 1] if step < len(days) else 2 * WINBACK_COUPON_MIN_DAYS
    return max(gap, WINBACK_COUPON_MIN_DAYS)
