"""Post-purchase care, birthday and member-day flows on the engine (docs/care.md).

Rules stay pure in ``domain.care`` / ``domain.birthdays`` / ``domain.member_days``; who is
due comes from ``services.care`` / ``birthday_greetings`` / ``member_days``. These classes
only translate between them and the engine (``services.enrolments``).

* ``care`` (subject: the order): started by ``order_fulfilled`` (``care_anchor =
  fulfilment``) or by a paid ``order_placed`` plus ``care_payment_delay_days``
  (``care_anchor = payment``). Steps ``care_steps`` days after the anchor; a sweep that
  was down sends only the newest overdue step (``domain.care.due_care_step``). Each step
  is checked again at send (``care_step_still_due``): a cancelled or fully refunded
  order stops the series, a rated order skips the satisfaction step.
* ``birthday`` (subject: the customer, cycle: the local year): a scan over
  ``birthday_greetings_due`` (from ``birthday_greeting_hour`` in the shop's zone).
  The gift (points, and a coupon in the message) is recorded exactly once by
  ``record_birthday_greeting`` when the step comes due, **holdout members included**:
  the gift is a tier benefit the programme promises, so the holdout gets the points but
  no message (and so no coupon); the holdout measures the message. A variant B with
  gift points gives its messaged members those points instead of the tier's.
* ``member_day`` (subject: the customer, cycle: the member day's id): a scan over
  ``member_day_announcements_due``, higher tiers first; cancelled at send when the window
  was cancelled or the member's access already started.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.core.cache import cache

from ..conf import incentive_from_text
from ..delivery.rating_links import satisfaction_rating_urls
from ..domain.birthdays import greeting_changes_after
from ..domain.care import CareAnchor, CareStep, CareStepKind, care_anchor, due_care_step
from ..models import (
    CustomerProfile,
    FlowEnrolment,
    LoyaltyAccount,
    MemberDay,
    MembershipTier,
    PurchasedLine,
    PurchasedOrder,
    SubjectKind,
)
from ..selectors.birthdays import born_around
from . import birthday_greetings, member_days, scan_gates
from .care import care_step_blocked, care_step_still_due, order_rated
from .enrolments import (
    Complete,
    EnrolmentFlow,
    EnrolmentRequest,
    SendStep,
    SingleMessageFlow,
    StopEnrolment,
    Subject,
    WaitUntil,
)
from .flow_events import ORDER_FULFILLED, ORDER_PLACED, FlowEvent
from .flow_variants import variant_b
from .flows import Cancel, Due, Preparation, Ready, channel_settings_loader
from .lifecycle_content import recommendation_cards, storefront_url
from .lifecycle_flows import tier_name
from .recommendations import product_catalogue

if TYPE_CHECKING:
    from collections.abc import Iterator

    from django.db.models import QuerySet

    from ..conf import ChannelSettings
    from ..domain.schedules import Incentive
    from ..models import FlowMessage
    from .enrolments import Decision

CARE_FLOW = "care"
BIRTHDAY_FLOW = "birthday"
MEMBER_DAY_FLOW = "member_day"
DONE_DAY = "care_done_through_day"  # enrolment data: the last care step handled, by day
# A channel with announcements running is scanned again at least this often (members who
# joined a tier meanwhile); another tier opening rescans at once.
MEMBER_DAY_SCAN_EVERY = timedelta(hours=1)


# --- post-purchase care ----------------------------------------------------------------


class CareFlow(EnrolmentFlow):
    name = CARE_FLOW
    subject_kind = SubjectKind.ORDER
    events = (ORDER_FULFILLED, ORDER_PLACED)

    def is_enabled(self, settings: ChannelSettings) -> bool:
        return settings.care.care_enabled

    def on_event(self, event: FlowEvent, settings: ChannelSettings) -> Iterator[EnrolmentRequest]:
        order_id = event.data.get("order_id")
        if not order_id or (event.customer_id is None and not event.email):
            return
        care = settings.care
        if event.name == ORDER_FULFILLED and care.care_anchor is CareAnchor.FULFILMENT:
            anchor = care_anchor(
                care.care_anchor,
                fulfilled_at=event.occurred_at,
                paid_at=None,
                payment_delay=care.payment_delay,
            )
            seen = event.data.get("seen_at")
            if anchor is not None and seen and series_over(anchor, seen, care.steps):
                return  # fulfilled before the whole series' span (a backfill, a late sync)
        elif event.name == ORDER_PLACED and care.care_anchor is CareAnchor.PAYMENT:
            paid = event.data.get("paid_seen_at")
            anchor = care_anchor(
                care.care_anchor,
                fulfilled_at=None,
                paid_at=datetime.fromisoformat(paid) if paid else None,
                payment_delay=care.payment_delay,
            )
        else:
            return
        if anchor is None or placed_too_long_ago(str(order_id), anchor, care.steps):
            return
        yield EnrolmentRequest(
            subject=Subject.order(str(order_id)),
            channel_slug=event.channel_slug,
            anchor_at=anchor,
            customer_id=event.customer_id,
            email=event.email,
            language_code=event.language_code,
            data={"order_id": str(order_id), "order_number": event.data.get("order_number", "")},
        )

    def first_check_at(self, request: EnrolmentRequest, settings: ChannelSettings) -> datetime:
        steps = settings.care.steps
        return steps[0].due_at(request.anchor_at) if steps else request.anchor_at

    def advance(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime
    ) -> Decision:
        order_id = str(enrolment.data.get("order_id", ""))
        if not care_step_still_due(order_id, CareStepKind.REVIEW):  # any step but satisfaction
            return StopEnrolment("order_not_counted")  # cancelled or refunded in full
        steps = settings.care.steps
        done_day = int(enrolment.data.get(DONE_DAY, 0))
        done = frozenset(step.kind for step in steps if step.day <= done_day)
        step = due_care_step(steps, enrolment.anchor_at, now, done=done)
        if step is not None:
            enrolment.data = {**enrolment.data, DONE_DAY: step.day}  # saved by the engine
            # The order counts (checked above): only a rating can hold the step back.
            if step.kind is not CareStepKind.SATISFACTION or not order_rated(order_id):
                return SendStep(step.kind.number, self._next_due(steps, step, enrolment))
            done_day = step.day  # rated already: skip the satisfaction check
        ahead = [s for s in steps if s.day > done_day and s.due_at(enrolment.anchor_at) > now]
        return WaitUntil(ahead[0].due_at(enrolment.anchor_at)) if ahead else Complete()

    @staticmethod
    def _next_due(
        steps: tuple[CareStep, ...], step: CareStep, enrolment: FlowEnrolment
    ) -> datetime | None:
        later = [s for s in steps if s.day > step.day]
        return later[0].due_at(enrolment.anchor_at) if later else None

    def compose(
        self,
        enrolment: FlowEnrolment,
        message: FlowMessage,
        settings: ChannelSettings,
        now: datetime,
    ) -> Preparation:
        kind = list(CareStepKind)[message.step - 1]
        order_id = str(enrolment.data.get("order_id", ""))
        blocked = care_step_blocked(order_id, kind)
        if blocked:
            return Cancel(blocked)  # cancelled or refunded in full since, or rated already
        zone = self.zone(enrolment, settings)
        return Due(zone, lambda: self.step_message(kind, enrolment, settings, now, zone))

    def step_message(
        self,
        kind: CareStepKind,
        enrolment: FlowEnrolment,
        settings: ChannelSettings,
        now: datetime,
        zone: ZoneInfo,
    ) -> Ready:
        """The step's message, built when it goes out (``compose`` checked it is still due)."""
        order_id = str(enrolment.data.get("order_id", ""))
        shop_url = storefront_url(settings)
        context: dict[str, Any] = {
            "order_number": enrolment.data.get("order_number", ""),
            "shop_url": shop_url,
        }
        if kind is CareStepKind.SATISFACTION:
            urls = satisfaction_rating_urls(
                settings,
                channel_slug=enrolment.channel_slug,
                order_id=order_id,
                customer_id=enrolment.customer_id,
                email=enrolment.email,
                now=now,
                language=enrolment.language_code,
            )
            context["rating_links"] = [{"score": s, "url": url} for s, url in sorted(urls.items())]
        elif kind is CareStepKind.REVIEW:
            context.update(review_url=shop_url, review_points=settings.care.review_points)
        elif kind is CareStepKind.RELATED:
            context["products"] = related_products(enrolment, order_id, settings, now)
        else:
            currency = order_currency(order_id)
            incentive = settings.care.coupon
            context.update(coupon_context(incentive, currency, now, zone))
            return Ready(context=context, zone=zone, incentive=incentive, currency=currency)
        return Ready(context=context, zone=zone)


def series_over(anchor: datetime, seen_at: str, steps: tuple[CareStep, ...]) -> bool:
    """Whether the intake saw the fulfilment only after the series' last step was due.

    ``seen_at`` is ISO text (the event's data). Its messages would all be late.
    """
    span = timedelta(days=steps[-1].day if steps else 0)
    return datetime.fromisoformat(seen_at) - anchor > span


def placed_too_long_ago(order_id: str, anchor: datetime, steps: tuple[CareStep, ...]) -> bool:
    """An old order the intake sees again (an update long after, care switched on since).

    Its "fulfilment" is only when the intake looked: care would start months late. An
    order placed more than the series' length (its last step's day) before the anchor
    gets no care.
    """
    placed_at = (
        PurchasedOrder.objects.filter(order_id=order_id).values_list("placed_at", flat=True).first()
    )
    span = timedelta(days=steps[-1].day if steps else 0)
    return placed_at is not None and anchor - placed_at > span


def related_products(
    enrolment: FlowEnrolment, order_id: str, settings: ChannelSettings, now: datetime
) -> list[dict[str, str]]:
    """Up to three products bought with this order's (``recommend_for``); [] when none."""
    seeds = {
        product
        for product in PurchasedLine.objects.filter(
            order__order_id=order_id, product_id__isnull=False
        )
        .values_list("product_id", flat=True)
        .distinct()
        if product
    }
    if not seeds:
        return []
    customer_key = (
        PurchasedOrder.objects.filter(order_id=order_id)
        .values_list("customer_key", flat=True)
        .first()
    )
    return recommendation_cards(
        enrolment.channel_slug,
        customer_key,
        settings,
        product_catalogue(),
        now,
        seed_products=seeds,
    )


def order_currency(order_id: str) -> str:
    return (
        PurchasedOrder.objects.filter(order_id=order_id).values_list("currency", flat=True).first()
        or ""
    )


def coupon_context(incentive: Incentive, currency: str, now: datetime, zone: Any) -> dict[str, str]:
    """What the templates show of a coupon minted now (the outbox adds ``coupon_code``)."""
    return {
        "coupon_discount_display": incentive.describe(currency),
        "coupon_valid_until": (now + timedelta(days=incentive.valid_days))
        .astimezone(zone)
        .date()
        .isoformat(),
    }


# --- birthdays -------------------------------------------------------------------------


def channels_of(customers: QuerySet[Any]) -> list[str]:
    """The channels in which these customers (a values queryset of ids) have a live account."""
    # Sorted: the same channels in the same order on every database (enrolment ids follow).
    return sorted(
        LoyaltyAccount.objects.filter(customer_id__in=customers, merged_into__isnull=True)
        .order_by()
        .values_list("channel_slug", flat=True)
        .distinct()
    )


class BirthdayFlow(EnrolmentFlow):
    name = BIRTHDAY_FLOW
    # Its scan reads birthdays, the accounts of their customers and the channels' settings.
    scan_inputs = (scan_gates.BIRTHDAYS, scan_gates.ACCOUNTS, scan_gates.CHANNEL_SETTINGS)

    def is_enabled(self, settings: ChannelSettings) -> bool:
        return settings.care.birthday_greetings_enabled

    def scan(self, now: datetime) -> Iterator[EnrolmentRequest]:
        """Today's birthdays in each channel (every zone's today is within a day of UTC's).

        One query for the customers born around today and their channels; then
        ``birthday_greetings_due`` per channel: the cost follows today's birthdays.
        """
        load = channel_settings_loader()
        for channel in channels_of(born_around(now.date())):
            settings = load(channel)
            if settings is None or not self.is_enabled(settings):
                continue
            for due in birthday_greetings.birthday_greetings_due(channel, settings, now):
                yield EnrolmentRequest(
                    subject=Subject.customer(due.customer_id),
                    channel_slug=channel,
                    anchor_at=now,
                    customer_id=due.customer_id,
                    email=account_email(due.account_id),
                    cycle=due.year,
                    data={
                        "account_id": due.account_id,
                        "tier_code": due.tier_code,
                        "gift_points": due.gift.points,
                        "gift_coupon": due.gift.coupon,
                    },
                )

    def scan_quiet_until(self, now: datetime) -> datetime | None:
        """The next UTC midnight (who is born around today changes), or sooner a channel's.

        A channel's: the next greeting hour or local midnight (``greeting_changes_after``)
        of each channel with greetings on where someone born around today has an account.
        One query (and the settings).
        """
        load = channel_settings_loader()
        moments = [datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=now.tzinfo)]
        for channel in channels_of(born_around(now.date())):
            settings = load(channel)
            if settings is not None and self.is_enabled(settings):
                zone = ZoneInfo(settings.ledger.timezone)
                hour = settings.care.birthday_greeting_hour
                moments.append(greeting_changes_after(now, zone, hour))
        return min(moments)

    def advance(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime
    ) -> Decision:
        data = enrolment.data
        variant = variant_b(self.name, enrolment.variant, settings)
        if variant is not None and variant.incentive and not enrolment.is_holdout:
            # Variant B's gift points; the holdout keeps the tier's (see the module).
            data = enrolment.data = {**data, "gift_points": int(variant.incentive)}
        due = birthday_greetings.BirthdayDue(
            customer_id=int(enrolment.customer_id or 0),
            account_id=int(data["account_id"]),
            year=enrolment.cycle,
            tier_code=str(data.get("tier_code", "")),
            gift=birthday_greetings.BirthdayGift(
                int(data.get("gift_points", 0)), str(data.get("gift_coupon", ""))
            ),
        )
        if enrolment.customer_id is None or not birthday_greetings.birthday_greeting_still_due(
            enrolment.channel_slug, due.customer_id, due.year
        ):
            return StopEnrolment("greeted_already")
        # The gift once, holdout included (see the module docstring).
        birthday_greetings.record_birthday_greeting(enrolment.channel_slug, due, settings, now=now)
        return SendStep(step=1, next_check_at=None)

    def compose(
        self,
        enrolment: FlowEnrolment,
        message: FlowMessage,
        settings: ChannelSettings,
        now: datetime,
    ) -> Preparation:
        if (
            enrolment.customer_id is None
            or not CustomerProfile.objects.filter(customer_id=enrolment.customer_id).exists()
        ):
            return Cancel("birthday_removed")
        zone = self.zone(enrolment, settings)
        if now - enrolment.anchor_at > timedelta(days=1):
            return Cancel("birthday_passed")  # held (quiet hours, cap, outage) past the day
        return Due(zone, lambda: self.greeting(enrolment, settings, now, zone))

    def greeting(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime, zone: ZoneInfo
    ) -> Ready:
        """The greeting, built when it goes out (``compose`` checked it is still due)."""
        tier = MembershipTier.objects.filter(
            channel_slug=enrolment.channel_slug, code=enrolment.data.get("tier_code", "")
        ).first()
        context: dict[str, Any] = {
            "first_name": "",
            "tier_name": tier_name(tier, enrolment.language_code),
            "gift_points": int(enrolment.data.get("gift_points", 0)),
            "shop_url": storefront_url(settings),
        }
        coupon = str(enrolment.data.get("gift_coupon", ""))
        if not coupon:
            return Ready(context=context, zone=zone)
        incentive = incentive_from_text(coupon, settings.care.care_coupon_valid_days)
        currency = account_currency(int(enrolment.data["account_id"]))
        context.update(coupon_context(incentive, currency, now, zone))
        return Ready(context=context, zone=zone, incentive=incentive, currency=currency)


def account_email(account_id: int) -> str | None:
    return LoyaltyAccount.objects.filter(pk=account_id).values_list("email", flat=True).first()


def account_currency(account_id: int) -> str:
    """The currency of the customer's last counted order in the channel ("" if none)."""
    account = LoyaltyAccount.objects.filter(pk=account_id).first()
    if account is None:
        return ""
    return (
        PurchasedOrder.objects.filter(
            channel_slug=account.channel_slug, customer_id=account.customer_id, counts=True
        )
        .order_by("-placed_at")
        .values_list("currency", flat=True)
        .first()
        or ""
    )


# --- member days -----------------------------------------------------------------------


class MemberDayFlow(SingleMessageFlow):
    name = MEMBER_DAY_FLOW
    scan_inputs = (scan_gates.MEMBER_DAYS, scan_gates.TIERS, scan_gates.CHANNEL_SETTINGS)

    def is_enabled(self, settings: ChannelSettings) -> bool:
        return settings.care.member_day_announcements_enabled

    def scan_signature(self) -> str:
        return f"every={MEMBER_DAY_SCAN_EVERY.total_seconds():g}s"

    def scan_quiet_until(self, now: datetime) -> datetime | None:
        """The next period while announcements run; sooner, a tier's next announcement.

        While announcements run, the scan looks again each ``MEMBER_DAY_SCAN_EVERY`` for
        members who joined a tier meanwhile; a tier's announcement opening or its access
        starting changes what it looks for. Until then the period's cache gates, taken by
        this scan, make every scan a no-op.
        """
        running, changes = member_days.announcements_change_after(now)
        every = MEMBER_DAY_SCAN_EVERY.total_seconds()
        period_ends = datetime.fromtimestamp((now.timestamp() // every + 1) * every, tz=UTC)
        return scan_gates.earliest((period_ends if running else None, changes))

    def scan(self, now: datetime) -> Iterator[EnrolmentRequest]:
        """Members due an announcement, per channel with an upcoming window, higher tiers first.

        Set-based: the members already enrolled are left out in SQL, and a channel is
        scanned again only when another tier's announcement opens or once per
        ``MEMBER_DAY_SCAN_EVERY`` (members who joined a tier meanwhile), so sweeps
        between cost one query for the channels' windows.
        """
        load = channel_settings_loader()
        period = int(now.timestamp() // MEMBER_DAY_SCAN_EVERY.total_seconds())
        for channel, opened in member_days.announcements_opened(now):
            gate = f"retention:scan:{self.name}:{channel}:{opened}:{period}"
            if cache.get(gate) is not None:
                continue
            settings = load(channel)
            if settings is None or not self.is_enabled(settings):
                continue
            if not cache.add(gate, 1, timeout=int(2 * MEMBER_DAY_SCAN_EVERY.total_seconds())):
                continue
            for due in member_days.member_day_announcements_due(
                channel, now, skip_enrolled_in=self.name
            ):
                yield EnrolmentRequest(
                    subject=Subject.customer(due.customer_id),
                    channel_slug=channel,
                    anchor_at=now,
                    customer_id=due.customer_id,
                    email=due.email,
                    cycle=due.member_day_id,
                    data={"account_id": due.account_id, "tier_code": due.tier_code},
                )

    def content(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime
    ) -> Preparation:
        day = MemberDay.objects.filter(
            channel_slug=enrolment.channel_slug, pk=enrolment.cycle
        ).first()
        if day is None:
            return Cancel("member_day_cancelled")
        account_id = int(enrolment.data["account_id"])
        access = member_days.access_starts_at(enrolment.channel_slug, day.pk, account_id)
        if now >= access:
            return Cancel("access_started")
        zone = self.zone(enrolment, settings)
        return Due(zone, lambda: self.announcement(enrolment, settings, day, access, zone))

    def announcement(
        self,
        enrolment: FlowEnrolment,
        settings: ChannelSettings,
        day: MemberDay,
        access: datetime,
        zone: ZoneInfo,
    ) -> Ready:
        """The announcement, built when it goes out (``content`` checked it is still due)."""
        tier = MembershipTier.objects.filter(
            channel_slug=enrolment.channel_slug, code=enrolment.data.get("tier_code", "")
        ).first()

        def display(moment: datetime) -> str:
            return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

        return Ready(
            context={
                "member_day_name": day.name,
                "multiplier": f"{day.multiplier.normalize():f}",
                "starts_display": display(day.starts_at),
                "ends_display": display(day.ends_at),
                "early_access": access < day.starts_at,
                "tier_name": tier_name(tier, enrolment.language_code),
                "access_starts_display": display(access),
                "shop_url": storefront_url(settings),
            },
            zone=zone,
        )
