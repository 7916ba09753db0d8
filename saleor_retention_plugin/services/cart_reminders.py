"""The first flow on the engine: abandoned-cart reminders.

A cart's series is its ``FlowEnrolment`` (flow ``cart``, subject ``cart:<token>``,
``enrolment.cart`` the ``TrackedCart``), written by the checkout upsert with the cart
(``services.carts.record_cart_activity``). The engine's one scheduler
(``services.enrolments.advance_due_enrolments``: partial due index, lease, ``SKIP
LOCKED``, backoff) claims due cart enrolments like every other flow's;
``CartReminderFlow`` writes the cart's rules. Its ``look`` reads the cart's current
contents from the shop before the enrolment is locked (so a customer's checkout hook
never waits behind the sweep's reads of the shop), then ``advance_looked``, under the
enrolment's row lock, stops the series, looks again later, or writes the outbox row of
the step that is due. ``compose`` checks everything again right before the send.
``advance_due_carts`` runs the scheduler for carts alone (what the sweep's cart entry
does), with a contents loader of the caller's choice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from .. import app_settings
from ..constants import CART_FLOW
from ..domain.abandonment import CartFacts, NotAbandoned, why_not_abandoned
from ..domain.contact_rules import decide_contact
from ..models import (
    CartState,
    FlowEnrolment,
    FlowMessage,
    MessageState,
    SubjectKind,
    TrackedCart,
)
from . import consent
from .carts import (
    CartContentsLoader,
    apply_contents,
    cart_contents_loader,
    series_running,
    stop_series,
    store_snapshot,
)
from .enrolments import (
    SWEEP_BATCH_SIZE,
    Complete,
    Decision,
    EnrolmentFlow,
    SendStep,
    StopEnrolment,
    WaitUntil,
    advance_due_enrolments,
    local_zone,
)
from .flows import (
    Cancel,
    ChannelSettingsLoader,
    Preparation,
    Ready,
    Retime,
    claim_due_messages,
    deliver_message,
)

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from ..conf import ChannelSettings
    from ..domain.carts import CartContents

logger = logging.getLogger(__name__)

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
    """The customer's zone when the cart tells it, else the shop's (UTC when neither is valid)."""
    return local_zone(cart.timezone, settings.ledger.timezone)


def subject_key(cart: TrackedCart) -> str:
    """The outbox subject of the cart's messages: its checkout token."""
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

    The engine's scheduler over the cart flow's due enrolments (``load_contents``
    defaults to the configured cart contents loader). When the sweep was down and
    several steps are overdue, only the latest one is sent: a late reminder is fine,
    three at once are spam.
    """
    counts = advance_due_enrolments(
        CartReminderFlow(load_contents=load_contents),
        now=now or timezone.now(),
        batch_size=batch_size,
        max_batches=max_batches,
        load_settings=load_settings,
        report=SweepReport().as_json(),
    )
    return SweepReport(**counts)


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


@dataclass(frozen=True)
class Looked:
    """What the sweep read before locking the cart's enrolment."""

    fetched: bool  # whether the shop was asked (it is not for carts nobody can be reminded of)
    contents: CartContents | None = None


def _cart_of(enrolment: FlowEnrolment) -> TrackedCart | None:
    """The enrolment's cart as it stands (unlocked: the checkout hook takes it first)."""
    if enrolment.cart_id is None:
        return None
    return TrackedCart.objects.filter(pk=enrolment.cart_id).first()


def _can_remind(cart: TrackedCart) -> bool:
    if cart.email is None and cart.customer_id is None:
        return False
    return not consent.is_opted_out(
        cart.channel_slug, email=cart.email, customer_id=cart.customer_id
    )


class CartReminderFlow(EnrolmentFlow):
    """Abandoned-cart reminders on the engine: one enrolment per tracked cart.

    Unlike the event flows, a cart's enrolment is written by the checkout upsert (never
    by ``enrol``), is parked rather than stopped while the channel's reminders are off or
    the cart has no contact (new activity re-arms it), draws its holdout from the
    checkout token, and credits orders itself (``services.carts.record_order``).
    """

    name = CART_FLOW
    subject_kind = SubjectKind.CART
    attributes_own_orders = True
    reads_outside_lock = True

    def __init__(
        self,
        *,
        load_contents: CartContentsLoader | None = None,
        ordered_since: OrderCheck | None = None,
    ) -> None:
        self._load_contents = load_contents
        self._ordered_since = ordered_since

    def _contents_loader(self) -> CartContentsLoader:
        return self._load_contents or cart_contents_loader()

    def _order_check(self) -> OrderCheck:
        return self._ordered_since or customer_order_check()

    def schedule_due(self, now: datetime) -> dict[str, int]:
        return advance_due_carts(now=now).as_json()

    def is_enabled(self, settings: ChannelSettings) -> bool:
        return settings.reminders.cart_reminders_enabled

    def message_subject_key(self, enrolment: FlowEnrolment) -> str:
        return enrolment.subject_key.removeprefix("cart:")

    def zone(self, enrolment: FlowEnrolment, settings: ChannelSettings) -> ZoneInfo:
        # The sweep's ``advance_looked`` has just read the cart: no second read to time
        # the step's message.
        cached = FlowEnrolment.cart.is_cached(enrolment)
        cart = enrolment.cart if cached else _cart_of(enrolment)
        if cart is None:
            return local_zone(settings.ledger.timezone)
        return cart_zone(cart, settings)

    def bypasses_frequency_cap(self, settings: ChannelSettings) -> bool:
        return settings.reminders.cart_reminders_bypass_cap

    # -- the sweep --

    def check(self, enrolment: FlowEnrolment, settings: ChannelSettings | None) -> Decision | None:
        if settings is None or not self.is_enabled(settings):
            # Tracked, but nothing to send in this channel; new activity arms it again.
            return WaitUntil(None, outcome="parked")
        return None

    def look(
        self, enrolment: FlowEnrolment, settings: ChannelSettings | None, now: datetime
    ) -> Any:
        cart = _cart_of(enrolment)
        if (
            cart is None
            or settings is None
            or not self.is_enabled(settings)
            or not _can_remind(cart)
        ):
            return Looked(fetched=False)  # the tracked row alone settles it: no shop read
        contents = self._contents_loader()(str(cart.checkout_token))
        if contents is not None:
            apply_contents(cart, contents, now=now)
            store_snapshot(cart)
        return Looked(fetched=True, contents=contents)

    def advance(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime
    ) -> Decision:
        return self.advance_looked(enrolment, settings, now, self.look(enrolment, settings, now))

    def advance_looked(
        self, enrolment: FlowEnrolment, settings: ChannelSettings, now: datetime, looked: Any
    ) -> Decision:
        cart = _cart_of(enrolment)
        if cart is None:
            return StopEnrolment(NotAbandoned.DELETED.value)
        enrolment.cart = cart  # as read now: ``zone`` times the step's message with it
        if cart.state != CartState.OPEN:
            return StopEnrolment(
                NotAbandoned.ORDERED.value if cart.state == CartState.CONVERTED else "cart_closed"
            )
        reminders = settings.reminders
        try:
            if cart.email is None and cart.customer_id is None:
                return WaitUntil(None, outcome="parked")  # an email or a sign-in re-arms it
            if consent.is_opted_out(
                cart.channel_slug, email=cart.email, customer_id=cart.customer_id
            ):
                return StopEnrolment(NotAbandoned.OPTED_OUT.value)
            contents = looked.contents if isinstance(looked, Looked) else None
            verdict = _assess(cart, contents, settings, now, self._order_check())
        finally:
            _follow_the_cart(enrolment, cart)
        if verdict is not None and verdict.is_final:
            return StopEnrolment(verdict.value)
        if verdict is NotAbandoned.STILL_ACTIVE:
            return WaitUntil(cart.last_activity_at + reminders.abandonment_threshold)
        if verdict is NotAbandoned.NO_CONTACT:
            return WaitUntil(None, outcome="parked")

        threshold_at = cart.last_activity_at + reminders.abandonment_threshold
        abandoned_at = enrolment.data.get("abandoned_at")
        if abandoned_at is None or datetime.fromisoformat(abandoned_at) < cart.last_activity_at:
            enrolment.data = {**enrolment.data, "abandoned_at": threshold_at.isoformat()}
        if enrolment.is_holdout:
            # Tracked for comparison, never reminded; its attribution window opens when its
            # first reminder would have gone out.
            if enrolment.window_opens_at is None:
                enrolment.window_opens_at = would_be_reminded_at(cart, settings, threshold_at)
            return WaitUntil(None, outcome="held_out")
        series = reminders.series

        def due(step: int) -> datetime | None:
            at = series.due_at(step, last_activity_at=cart.last_activity_at)
            return None if at is None else max(at, threshold_at)

        due_steps = [
            step
            for step in range(enrolment.next_step, len(series.steps) + 1)
            if (at := due(step)) is not None and at <= now
        ]
        if due_steps:
            step = due_steps[-1]
            return SendStep(
                step, next_check_at=due(step + 1), scheduled_for_activity_at=cart.last_activity_at
            )
        next_check_at = due(enrolment.next_step)
        return Complete() if next_check_at is None else WaitUntil(next_check_at)

    # -- the send --

    def compose(
        self,
        enrolment: FlowEnrolment,
        message: FlowMessage,
        settings: ChannelSettings,
        now: datetime,
    ) -> Preparation:
        cart = _cart_of(enrolment)
        if cart is None:
            return Cancel(NotAbandoned.DELETED.value)
        if cart.state != CartState.OPEN:
            return Cancel("cart_closed")
        reminders = settings.reminders
        if reminders.series.step(message.step) is None:
            # The merchant shortened the series after this step was scheduled.
            return Cancel("step_no_longer_in_series")
        if (
            enrolment.messages.filter(step__gt=message.step)
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
        contents = self._contents_loader()(str(cart.checkout_token))
        verdict = _assess(cart, contents, settings, now, self._order_check())
        if contents is not None:
            store_snapshot(cart)
            _follow_the_cart(enrolment, cart, save=True)
        if verdict is not None and verdict.is_final:
            stop_series(cart, verdict.value, now=now, enrolment=enrolment)
            return Cancel(verdict.value)
        if verdict is NotAbandoned.STILL_ACTIVE:
            return Retime(threshold_at)
        if verdict is NotAbandoned.NO_CONTACT:
            return Cancel(verdict.value)
        assert contents is not None  # a missing cart is a final verdict
        message.recipient_email = cart.email
        message.customer_id = cart.customer_id
        message.language_code = cart.language_code
        step = reminders.series.step(message.step)
        return Ready(
            context=cart_reminder_context(cart, contents, settings),
            zone=cart_zone(cart, settings),
            bypass_frequency_cap=self.bypasses_frequency_cap(settings),
            incentive=step.incentive if step else None,
            currency=contents.currency or cart.currency,
        )

    def on_opt_out(self, message: FlowMessage, now: datetime) -> None:
        if message.enrolment_id is None:
            return
        enrolment = (
            FlowEnrolment.objects.filter(pk=message.enrolment_id)
            .filter(series_running())
            .select_related("cart")
            .first()
        )
        if enrolment is not None and enrolment.cart is not None:
            stop_series(enrolment.cart, NotAbandoned.OPTED_OUT.value, now=now, enrolment=enrolment)


def _follow_the_cart(enrolment: FlowEnrolment, cart: TrackedCart, *, save: bool = False) -> None:
    """The series writes to whom the cart now belongs (the checkout is the truth).

    ``save``: write what changed at once (``enrolment`` was read under its row lock).
    """
    follows = {
        "customer_id": cart.customer_id,
        "email": cart.email,
        "language_code": cart.language_code,
        "anchor_at": cart.last_activity_at,
    }
    changed = {name: value for name, value in follows.items() if getattr(enrolment, name) != value}
    for name, value in changed.items():
        setattr(enrolment, name, value)
    if save and changed:
        FlowEnrolment.objects.filter(pk=enrolment.pk).update(**changed)


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
