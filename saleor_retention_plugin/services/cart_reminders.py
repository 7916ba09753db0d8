"""The first flow: abandoned-cart reminders.

``advance_due_carts`` is the flow's scheduler, run by the periodic sweep. It reads only
carts whose ``next_check_at`` has passed (a partial index) and claims a batch of them by
moving their ``next_check_at`` a lease ahead, in one short transaction (``SKIP LOCKED``, so
concurrent sweeps share the work). Then, one cart at a time, it reads the cart's current
contents from the shop outside any transaction and, in a short transaction that locks
only that cart, either stops its series, looks again later, or writes the outbox row of
the step that is due. So a customer's checkout hook never waits behind the sweep's reads
of the shop, and a cart that fails is logged and looked at again later with backoff
instead of stopping every other cart. ``CartReminderFlow.prepare`` checks everything
again right before sending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.utils import timezone

from .. import app_settings
from ..constants import CART_FLOW
from ..domain.abandonment import CartFacts, NotAbandoned, why_not_abandoned
from ..domain.contact_rules import decide_contact
from ..models import CartState, FlowMessage, MessageState, TrackedCart
from . import consent
from .carts import (
    CartContentsLoader,
    apply_contents,
    cart_contents_loader,
    stop_series,
)
from .enrolments import SWEEP_BATCH_SIZE, SWEEP_LEASE, failure_delay
from .flows import (
    Cancel,
    ChannelSettingsLoader,
    Preparation,
    Ready,
    Retime,
    channel_settings_loader,
    claim_due_messages,
    deliver_message,
)

if TYPE_CHECKING:
    from ..conf import ChannelSettings
    from ..domain.carts import CartContents

logger = logging.getLogger(__name__)

# Batches, lease and failure backoff are the enrolment scheduler's: a claimed cart is kept
# from other sweeps for SWEEP_LEASE; a sweep that dies leaves its carts to the next one.
SALEOR_ORDER_CHECK = app_settings.SALEOR_ORDER_CHECK

# (channel_slug, customer_id, email, since) -> did the customer place any order since?
OrderCheck = Callable[[str, int | None, str | None, datetime], bool]


def customer_order_check() -> OrderCheck:
    """Asks the shop whether the customer ordered since a moment.

    Inside Saleor this reads Saleor's orders, so a reminder never follows an order whose
    hook task has not run yet. Elsewhere the order hooks (``record_order``) are the only
    source, and they already close the customer's carts.
    """
    check = app_settings.customer_order_check  # RETENTION_CUSTOMER_ORDER_CHECK
    if check is None:
        return lambda channel_slug, customer_id, email, since: False
    return check


def cart_zone(cart: TrackedCart, settings: ChannelSettings) -> ZoneInfo:
    """The customer's zone when the cart tells it, else the shop's."""
    for name in (cart.timezone, settings.ledger.timezone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def subject_key(cart: TrackedCart) -> str:
    return str(cart.checkout_token)


def idempotency_key(cart: TrackedCart, step: int) -> str:
    return f"retention:{CART_FLOW}:{cart.checkout_token}:{step}"


@dataclass
class SweepReport:
    looked_at: int = 0
    scheduled: int = 0
    stopped: int = 0
    held_out: int = 0
    waiting: int = 0
    failed: int = 0

    def as_json(self) -> dict[str, int]:
        return dict(vars(self))


def _assess(
    cart: TrackedCart,
    contents: CartContents | None,
    settings: ChannelSettings,
    now: datetime,
    ordered_since: OrderCheck,
) -> NotAbandoned | None:
    if contents is not None:
        apply_contents(cart, contents, now=now)
    facts = CartFacts(
        last_activity_at=cart.last_activity_at,
        has_email=bool(cart.email),
        has_customer=cart.customer_id is not None,
        line_count=cart.line_count or 0,
        exists=contents is not None,
        opted_out=consent.is_opted_out(
            cart.channel_slug, email=cart.email, customer_id=cart.customer_id
        ),
        customer_ordered_since_activity=(
            contents is not None
            and ordered_since(
                cart.channel_slug, cart.customer_id, cart.email, cart.last_activity_at
            )
        ),
    )
    return why_not_abandoned(facts, now=now, threshold=settings.reminders.abandonment_threshold)


def advance_due_carts(
    *,
    now: datetime | None = None,
    batch_size: int = SWEEP_BATCH_SIZE,
    max_batches: int = 50,
    load_settings: ChannelSettingsLoader | None = None,
    load_contents: CartContentsLoader | None = None,
) -> SweepReport:
    """Move every due cart one step on: stop it, look later, or schedule its due reminder.

    When the sweep was down and several steps are overdue, only the latest one is sent:
    a late reminder is fine, three at once are spam.
    """
    now = now or timezone.now()
    load_settings = load_settings or channel_settings_loader()
    load_contents = load_contents or cart_contents_loader()
    ordered_since = customer_order_check()
    settings_cache: dict[str, ChannelSettings | None] = {}
    report = SweepReport()
    lease_until = now + SWEEP_LEASE
    for _ in range(max_batches):
        cart_ids = _claim_due_carts(now, lease_until, batch_size)
        for cart_id in cart_ids:
            report.looked_at += 1
            try:
                _advance_one(
                    cart_id,
                    lease_until,
                    now,
                    settings_cache,
                    load_settings,
                    load_contents,
                    ordered_since,
                    report,
                )
            except Exception:
                logger.exception("Could not advance cart %s; looking again later", cart_id)
                report.failed += 1
                _push_back_after_failure(cart_id, lease_until, now)
        if len(cart_ids) < batch_size:
            break
    return report


def _claim_due_carts(now: datetime, lease_until: datetime, batch_size: int) -> list[int]:
    """Take a batch of due carts for this sweep and commit at once (no lock is kept)."""
    with transaction.atomic():
        cart_ids = list(
            TrackedCart.objects.due(now)
            .select_for_update(skip_locked=True)
            .order_by("next_check_at", "pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        TrackedCart.objects.filter(pk__in=cart_ids).update(next_check_at=lease_until)
    return cart_ids


def _push_back_after_failure(cart_id: int, lease_until: datetime, now: datetime) -> None:
    with transaction.atomic():
        cart = TrackedCart.objects.select_for_update().filter(pk=cart_id).first()
        if cart is None or cart.state != CartState.OPEN or cart.next_check_at != lease_until:
            return  # gone, closed, or new activity re-armed it meanwhile
        cart.sweep_failures += 1
        cart.next_check_at = now + failure_delay(cart.sweep_failures)
        cart.save(update_fields=["sweep_failures", "next_check_at", "updated_at"])


def _advance_one(
    cart_id: int,
    lease_until: datetime,
    now: datetime,
    settings_cache: dict[str, ChannelSettings | None],
    load_settings: ChannelSettingsLoader,
    load_contents: CartContentsLoader,
    ordered_since: OrderCheck,
    report: SweepReport,
) -> None:
    cart = TrackedCart.objects.filter(pk=cart_id).first()
    if cart is None or cart.state != CartState.OPEN:
        return
    if cart.channel_slug not in settings_cache:
        settings_cache[cart.channel_slug] = load_settings(cart.channel_slug)
    settings = settings_cache[cart.channel_slug]
    contents: CartContents | None = None
    if _needs_contents(cart, settings):
        # The slow part (reading the shop's checkout) runs outside any transaction.
        contents = load_contents(str(cart.checkout_token))
    with transaction.atomic():
        cart = TrackedCart.objects.select_for_update().filter(pk=cart_id).first()
        if cart is None or cart.state != CartState.OPEN or cart.next_check_at != lease_until:
            return  # closed meanwhile, or new activity re-armed it: its new check decides
        cart.sweep_failures = 0
        _advance(cart, settings, contents, now, ordered_since, report)


def _needs_contents(cart: TrackedCart, settings: ChannelSettings | None) -> bool:
    """Whether the tracked row alone cannot settle the cart (reading the shop is dear)."""
    if settings is None or not settings.reminders.cart_reminders_enabled:
        return False
    if cart.email is None and cart.customer_id is None:
        return False
    return not consent.is_opted_out(
        cart.channel_slug, email=cart.email, customer_id=cart.customer_id
    )


def _advance(
    cart: TrackedCart,
    settings: ChannelSettings | None,
    contents: CartContents | None,
    now: datetime,
    ordered_since: OrderCheck,
    report: SweepReport,
) -> None:
    if settings is None or not settings.reminders.cart_reminders_enabled:
        # Tracked, but nothing to send in this channel; new activity arms it again.
        cart.next_check_at = None
        cart.save()
        return
    reminders = settings.reminders
    if cart.email is None and cart.customer_id is None:
        cart.next_check_at = None  # an email or a sign-in is new activity and re-arms it
        cart.save()
        return
    if consent.is_opted_out(cart.channel_slug, email=cart.email, customer_id=cart.customer_id):
        stop_series(cart, NotAbandoned.OPTED_OUT.value, now=now)
        report.stopped += 1
        return
    verdict = _assess(cart, contents, settings, now, ordered_since)
    if verdict is not None and verdict.is_final:
        stop_series(cart, verdict.value, now=now)
        report.stopped += 1
        return
    if verdict is NotAbandoned.STILL_ACTIVE:
        cart.next_check_at = cart.last_activity_at + reminders.abandonment_threshold
        cart.save()
        report.waiting += 1
        return
    if verdict is NotAbandoned.NO_CONTACT:
        cart.next_check_at = None  # an email or a sign-in is new activity and re-arms it
        cart.save()
        return

    threshold_at = cart.last_activity_at + reminders.abandonment_threshold
    if cart.abandoned_at is None or cart.abandoned_at < cart.last_activity_at:
        cart.abandoned_at = threshold_at
    if cart.is_holdout:
        # Tracked for comparison, never reminded; its attribution window opens when its
        # first reminder would have gone out.
        if cart.holdout_window_starts_at is None:
            cart.holdout_window_starts_at = would_be_reminded_at(cart, settings, threshold_at)
        cart.next_check_at = None
        cart.save()
        report.held_out += 1
        return
    series = reminders.series

    def due(step: int) -> datetime | None:
        at = series.due_at(step, last_activity_at=cart.last_activity_at)
        return None if at is None else max(at, threshold_at)

    due_steps = [
        step
        for step in range(cart.next_step, len(series.steps) + 1)
        if (at := due(step)) is not None and at <= now
    ]
    if due_steps:
        step = due_steps[-1]
        FlowMessage.objects.get_or_create(
            subject_key=subject_key(cart),
            flow=CART_FLOW,
            step=step,
            defaults={
                "cart": cart,
                "channel_slug": cart.channel_slug,
                "customer_id": cart.customer_id,
                "recipient_email": cart.email,
                "language_code": cart.language_code,
                "state": MessageState.SCHEDULED,
                "next_attempt_at": now,
                "idempotency_key": idempotency_key(cart, step),
                "scheduled_for_activity_at": cart.last_activity_at,
            },
        )
        cart.next_step = step + 1
        report.scheduled += 1
    cart.next_check_at = due(cart.next_step)
    cart.save()


def would_be_reminded_at(
    cart: TrackedCart, settings: ChannelSettings, threshold_at: datetime
) -> datetime:
    """When a holdout cart's first reminder would have gone out: its delay after the last
    activity (never before abandonment), moved out of quiet hours in the customer's zone.
    The frequency cap is left out: it depends on other messages the customer got.
    """
    first = settings.reminders.series.due_at(1, last_activity_at=cart.last_activity_at)
    due = threshold_at if first is None else max(first, threshold_at)
    return decide_contact(
        now=due,
        zone=cart_zone(cart, settings),
        quiet_hours=settings.messaging.quiet_hours,
        cap=settings.messaging.frequency_cap,
        last_contacted_at=None,
        bypass_cap=True,
    ).send_at


class CartReminderFlow:
    name = CART_FLOW

    def schedule_due(self, now: datetime) -> dict[str, int]:
        return advance_due_carts(now=now).as_json()

    def is_enabled(self, settings: ChannelSettings) -> bool:
        return settings.reminders.cart_reminders_enabled

    def prepare(
        self, message: FlowMessage, settings: ChannelSettings, now: datetime
    ) -> Preparation:
        cart = None
        if message.cart_id is not None:
            cart = TrackedCart.objects.select_for_update().filter(pk=message.cart_id).first()
        if cart is None:
            return Cancel(NotAbandoned.DELETED.value)
        if cart.state != CartState.OPEN:
            return Cancel(cart.stop_reason or "cart_closed")
        if cart.is_holdout:
            return Cancel("holdout")
        reminders = settings.reminders
        if reminders.series.step(message.step) is None:
            # The merchant shortened the series after this step was scheduled.
            return Cancel("step_no_longer_in_series")
        if (
            cart.messages.filter(step__gt=message.step)
            .exclude(state=MessageState.CANCELLED)
            .exists()
        ):
            # Retried (an outage) until the next step came due: that one speaks for both.
            return Cancel("superseded_by_a_later_step")
        threshold_at = cart.last_activity_at + reminders.abandonment_threshold
        if (
            message.scheduled_for_activity_at is not None
            and cart.last_activity_at > message.scheduled_for_activity_at
        ):
            # The customer came back after this step was scheduled: its clock restarts.
            due = reminders.series.due_at(message.step, last_activity_at=cart.last_activity_at)
            message.scheduled_for_activity_at = cart.last_activity_at
            if due is not None and max(due, threshold_at) > now:
                return Retime(max(due, threshold_at))
        contents = cart_contents_loader()(str(cart.checkout_token))
        verdict = _assess(cart, contents, settings, now, customer_order_check())
        if verdict is not None and verdict.is_final:
            stop_series(cart, verdict.value, now=now)
            return Cancel(verdict.value)
        if verdict is NotAbandoned.STILL_ACTIVE:
            cart.save()
            return Retime(threshold_at)
        if verdict is NotAbandoned.NO_CONTACT:
            cart.save()
            return Cancel(verdict.value)
        cart.save()
        assert contents is not None  # a missing cart is a final verdict
        message.recipient_email = cart.email
        message.customer_id = cart.customer_id
        message.language_code = cart.language_code
        step = reminders.series.step(message.step)
        return Ready(
            context=cart_reminder_context(cart, contents, settings),
            zone=cart_zone(cart, settings),
            bypass_frequency_cap=reminders.cart_reminders_bypass_cap,
            incentive=step.incentive if step else None,
            currency=contents.currency or cart.currency,
        )

    def on_opt_out(self, message: FlowMessage, now: datetime) -> None:
        if message.cart_id is None:
            return
        cart = TrackedCart.objects.filter(id=message.cart_id, state=CartState.OPEN).first()
        if cart is not None:
            stop_series(cart, NotAbandoned.OPTED_OUT.value, now=now)


def cart_reminder_context(
    cart: TrackedCart, contents: CartContents, settings: ChannelSettings
) -> dict[str, Any]:
    """What the templates show: the lines with images and prices, the total, the link."""
    currency = contents.currency or cart.currency
    return {
        "lines": [line.to_json() for line in contents.lines],
        "total": str(contents.total),
        "currency": currency,
        "checkout_url": settings.delivery.checkout_url(str(cart.checkout_token)),
        "checkout_token": str(cart.checkout_token),
    }


def sweep_and_deliver(*, now: datetime | None = None) -> list[str]:
    """One sweep with delivery in this process: what the beat task and its delivery tasks do.

    For the sandbox, management commands and tests; production runs
    ``tasks.sweep_flows_task``, which hands each claimed message to its own task.
    """
    from .flow_sweep import schedule_due_messages  # builds on this module's flow

    now = now or timezone.now()
    schedule_due_messages(now)
    outcomes: list[str] = []
    while claims := claim_due_messages(now=now):
        outcomes.extend(
            deliver_message(claim.message_id, claim.claim_token, now=now) for claim in claims
        )
    return outcomes
