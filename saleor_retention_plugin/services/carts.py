"""Tracking carts: activity from the checkout hooks, contents from a task, orders, privacy.

``record_cart_activity`` (``services.cart_activity``, re-exported here) is what a checkout
hook calls inside Saleor's request: a single ``INSERT ... ON CONFLICT DO UPDATE`` of the
cart and its series that reads no lines and no prices. Everything that
needs the lines (the snapshot, whether the cart is empty, its total) is loaded later, in
a task, through the cart contents loader:

* inside Saleor, ``integrations.saleor.checkouts.load_cart_contents`` reads the Checkout;
* elsewhere (the sandbox, tests) the ``RETENTION_CART_CONTENTS_LOADER`` Django setting
  names a function ``(checkout_token) -> CartContents | None``; without one, the
  snapshot last stored by ``refresh_cart_contents`` stands for the cart.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, cast

from django.db import transaction
from django.db.models import CharField, Exists, Max, Min, OuterRef, Q, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from .. import app_settings
from ..constants import CART_FLOW
from ..domain.abandonment import NotAbandoned
from ..domain.carts import CartContents, PlacedOrder
from ..domain.customers import normalise_email
from ..models import (
    RUNNING_STATES,
    CartState,
    EnrolmentState,
    FlowConversion,
    FlowEnrolment,
    FlowMessage,
    MessageState,
    SubjectKind,
    TrackedCart,
)

# Re-exported: the hooks, the sandbox and the tests call them from here.
from .cart_activity import LOCK_NOT_AVAILABLE as LOCK_NOT_AVAILABLE
from .cart_activity import holdout_salt as holdout_salt
from .cart_activity import record_cart_activity as record_cart_activity
from .consent import recipient_key

if TYPE_CHECKING:
    from datetime import datetime

    from ..conf import ChannelSettings

logger = logging.getLogger(__name__)

SALEOR_CART_LOADER = app_settings.SALEOR_CART_LOADER

CartContentsLoader = Callable[[str], CartContents | None]
# Not read with the enrolment (as opposed to None: read, and there is none).
UNREAD = object()


def cart_contents_loader() -> CartContentsLoader:
    loader = app_settings.cart_contents_loader  # RETENTION_CART_CONTENTS_LOADER
    return stored_cart_contents if loader is None else loader


def stored_cart_contents(checkout_token: str) -> CartContents | None:
    """The last snapshot stored for the cart, for setups with no live source of carts."""
    cart = TrackedCart.objects.filter(checkout_token=checkout_token).first()
    if cart is None or cart.contents_refreshed_at is None:
        return None
    return CartContents.from_json(
        {
            "currency": cart.currency,
            "lines": cart.lines,
            "email": cart.email,
            "customer_id": cart.customer_id,
            "timezone": cart.timezone,
        }
    )


def refresh_cart_contents(
    checkout_token: str, contents: CartContents | None, *, now: datetime | None = None
) -> TrackedCart | None:
    """Store the cart's lines, total, currency and contact as they stand now.

    ``contents`` None means the checkout no longer exists: the series stops.
    """
    now = now or timezone.now()
    with transaction.atomic():
        cart = TrackedCart.objects.select_for_update().filter(checkout_token=checkout_token).first()
        if cart is None:
            return None
        if cart.state != CartState.OPEN:
            return cart  # converted, or forgotten for good: nothing to refresh
        if contents is None:
            stop_series(cart, NotAbandoned.DELETED.value, now=now)
            return cart
        apply_contents(cart, contents, now=now)
        cart.save()
        FlowEnrolment.objects.filter(cart=cart, flow=CART_FLOW).update(
            customer_id=cart.customer_id, email=cart.email
        )
        return cart


def apply_contents(cart: TrackedCart, contents: CartContents, *, now: datetime) -> None:
    """Copy fresh contents onto the cart (unsaved); the currency follows the cart's."""
    cart.lines = [line.to_json() for line in contents.lines]
    cart.line_count = contents.line_count
    cart.total_amount = contents.total
    if contents.currency:
        cart.currency = contents.currency
    # The checkout is the truth about its contact: a deleted customer leaves it without.
    cart.customer_id = contents.customer_id
    cart.email = contents.email
    if contents.timezone:
        cart.timezone = contents.timezone
    cart.contents_refreshed_at = now


SNAPSHOT_FIELDS = (
    "lines",
    "line_count",
    "total_amount",
    "currency",
    "customer_id",
    "email",
    "timezone",
    "contents_refreshed_at",
)


def store_snapshot(cart: TrackedCart) -> bool:
    """Save the snapshot ``apply_contents`` put on ``cart``, unless its row is busy.

    For the sweep and the outbox, which hold the cart's enrolment while the checkout
    hook takes the cart's row first: never waiting here keeps the two from deadlocking
    (a busy row means fresh activity, which re-arms the series anyway). Returns whether
    it was saved.
    """
    with transaction.atomic():
        if (
            TrackedCart.objects.select_for_update(skip_locked=True)
            .filter(pk=cart.pk, state=CartState.OPEN)
            .values_list("pk", flat=True)
            .first()
            is None
        ):
            return False
        TrackedCart.objects.filter(pk=cart.pk).update(
            **{name: getattr(cart, name) for name in SNAPSHOT_FIELDS}, updated_at=timezone.now()
        )
    return True


def cart_subject_key(cart: TrackedCart) -> str:
    """The cart's subject on the engine: ``cart:<checkout token>``."""
    return f"cart:{cart.checkout_token}"


def cart_enrolment(cart: TrackedCart) -> FlowEnrolment:
    """The cart's ``FlowEnrolment`` (flow ``cart``): its reminder series.

    Written by the checkout upsert with the cart; created here, stopped, for a cart that
    somehow has none (rows written before the cart series moved onto the engine are
    migrated by 0019). Idempotent.
    """
    enrolment, _ = FlowEnrolment.objects.get_or_create(
        flow=CART_FLOW,
        channel_slug=cart.channel_slug,
        subject_key=cart_subject_key(cart),
        cycle=1,
        defaults={
            "subject_kind": SubjectKind.CART,
            "cart": cart,
            "customer_id": cart.customer_id,
            "email": cart.email,
            "language_code": cart.language_code,
            "anchor_at": cart.last_activity_at,
            "state": EnrolmentState.STOPPED,
            "stop_reason": "untracked",
            "stopped_at": timezone.now(),
        },
    )
    return enrolment


def stop_series(
    cart: TrackedCart,
    reason: str,
    *,
    now: datetime,
    converted: bool = False,
    enrolment: FlowEnrolment | None = None,
) -> None:
    """End the cart's series (its enrolment) and cancel whatever it still had waiting.

    ``converted``: the cart became an order (the cart's own state says so for good),
    whatever stopped its series before.
    """
    if converted:
        cart.state = CartState.CONVERTED
        TrackedCart.objects.filter(pk=cart.pk).update(state=CartState.CONVERTED, updated_at=now)
    _stop_enrolments([enrolment or cart_enrolment(cart)], reason, now=now)


def cancel_waiting_messages(which: Q, reason: str) -> int:
    return (
        FlowMessage.objects.waiting()
        .filter(which)
        .update(state=MessageState.CANCELLED, cancel_reason=reason, updated_at=timezone.now())
    )


def series_running() -> Q:
    """Cart enrolments whose series may still run (not stopped): active, or every step
    sent (completed).
    """
    return Q(state__in=RUNNING_STATES)


def record_order(
    order: PlacedOrder, settings: ChannelSettings, *, now: datetime | None = None
) -> FlowConversion | None:
    """An order arrived: stop the customer's cart series and credit a recovered cart.

    The order's own cart (Saleor keeps the checkout token on the order) becomes
    ``converted`` and its series stops (``cart_ordered``); the customer's other running
    series in the channel stop with ``customer_ordered``. A cart counts as recovered when
    the order falls within its attribution window (see ``attribution_window_start``): its
    own cart first (``via`` subject: the cart was completed), else the customer's cart
    whose window opened last (``via`` same_customer: the customer ordered something
    else). The recovery is the engine's ``FlowConversion`` of the cart's enrolment, with
    the order's revenue and the last reminder step sent before it (none for holdout
    carts). An order before a cart's window opened recovers nothing: no reminder can
    have caused it. Idempotent: Saleor may report the same order more than once.
    """
    now = now or timezone.now()
    # Inside the order intake's transaction no savepoint is needed: any error rolls the
    # whole intake back.
    with transaction.atomic(savepoint=False):
        # The customer's carts it may stop or credit (series running, or stopped by an
        # earlier order) and the order's own cart, locked in one statement, in id order.
        series = FlowEnrolment.objects.filter(cart=OuterRef("pk"), flow=CART_FLOW).filter(
            series_running() | Q(stop_reason=NotAbandoned.CUSTOMER_ORDERED.value)
        )
        candidates = TrackedCart.objects.of_customer(
            order.channel_slug, customer_id=order.customer_id, email=order.email
        ).filter(Exists(series), state=CartState.OPEN)
        if order.checkout_token:
            candidates |= TrackedCart.objects.filter(checkout_token=order.checkout_token)
        carts = list(candidates.select_for_update().order_by("pk"))
        if not carts:
            return None  # no cart to stop or credit
        # Their series, locked after the carts (the checkout upsert's order), each read with
        # what the attribution below decides on: its first reminder sent, whether it has a
        # conversion, and its last step sent before the order (one statement, not three
        # per cart); and, read under the carts' locks as well, whether the order was
        # recorded already (the same on every row: no statement of its own).
        sent = FlowMessage.objects.sent().filter(enrolment=OuterRef("pk"), sent_at__isnull=False)
        recorded = FlowConversion.objects.filter(flow=CART_FLOW, order_id=order.order_id)
        enrolments: dict[int | None, FlowEnrolment] = {
            enrolment.cart_id: enrolment
            for enrolment in FlowEnrolment.objects.filter(flow=CART_FLOW, cart__in=carts)
            .annotate(
                first_sent_at=Subquery(sent.order_by("sent_at").values("sent_at")[:1]),
                last_step_before_order=Subquery(
                    sent.filter(sent_at__lte=order.placed_at).order_by("-step").values("step")[:1]
                ),
                converted=Exists(FlowConversion.objects.filter(enrolment=OuterRef("pk"))),
                order_recorded=Exists(recorded),
            )
            .select_for_update()
            .order_by("pk")
        }
        if (
            any(getattr(enrolment, "order_recorded", False) for enrolment in enrolments.values())
            if enrolments
            else recorded.exists()
        ):
            return None  # the order was recorded already
        for cart in carts:
            if cart.pk not in enrolments:
                enrolments[cart.pk] = cart_enrolment(cart)
        token = uuid.UUID(order.checkout_token) if order.checkout_token else None
        own_cart = next((cart for cart in carts if cart.checkout_token == token), None)
        customer_carts = [cart for cart in carts if cart is not own_cart]
        # Before this order stops them: a window is one the cart reached while still open.
        starts = {
            cart.pk: attribution_window_start(
                enrolments[cart.pk], getattr(enrolments[cart.pk], "first_sent_at", UNREAD)
            )
            for cart in [*customer_carts, *([own_cart] if own_cart else [])]
        }
        # The series stopped when the order was placed (its task may run later).
        stopped_at = min(now, order.placed_at)
        if own_cart is not None and own_cart.state != CartState.CONVERTED:
            stop_series(
                own_cart,
                NotAbandoned.ORDERED.value,
                now=stopped_at,
                converted=True,
                enrolment=enrolments[own_cart.pk],
            )
        _stop_series_of_customer(
            [
                enrolments[cart.pk]
                for cart in customer_carts
                if enrolments[cart.pk].state != EnrolmentState.STOPPED
            ],
            now=stopped_at,
        )

        def opened_at(cart: TrackedCart) -> datetime | None:
            """When the cart's window opened, if the order falls within it."""
            start = starts[cart.pk]
            if (
                start is None
                or not start <= order.placed_at <= start + settings.messaging.attribution_window
            ):
                return None
            converted = getattr(enrolments[cart.pk], "converted", None)
            if converted is None:  # an enrolment made just now (``cart_enrolment``)
                converted = FlowConversion.objects.filter(enrolment=enrolments[cart.pk]).exists()
            return None if converted else start

        recovered, via = None, FlowConversion.Via.SUBJECT
        if own_cart is not None and opened_at(own_cart) is not None:
            recovered = own_cart
        else:
            windows = [
                (start, cart.pk, cart) for cart in customer_carts if (start := opened_at(cart))
            ]
            if windows:
                recovered = max(windows, key=lambda window: window[:2])[2]
            via = FlowConversion.Via.SAME_CUSTOMER
        if recovered is None:
            return None
        enrolment = enrolments[recovered.pk]
        read_step = getattr(enrolment, "last_step_before_order", UNREAD)
        last_step: int | None = None
        if enrolment.is_holdout:
            pass
        elif read_step is UNREAD:  # an enrolment made just now (``cart_enrolment``)
            last_step = (
                enrolment.messages.sent()
                .filter(sent_at__lte=order.placed_at)
                .aggregate(step=Max("step"))["step"]
            )
        else:
            last_step = cast("int | None", read_step)
        if not enrolment.is_holdout and enrolment.window_opens_at is None:
            FlowEnrolment.objects.filter(pk=enrolment.pk).update(
                window_opens_at=starts[recovered.pk]
            )
        return FlowConversion.objects.create(
            enrolment=enrolment,
            flow=CART_FLOW,
            channel_slug=order.channel_slug,
            order_id=order.order_id,
            revenue=max(order.total, Decimal(0)),
            currency=order.currency,
            step=last_step,
            is_holdout=enrolment.is_holdout,
            variant=enrolment.variant,
            via=via,
            converted_at=order.placed_at,
        )


def attribution_window_start(
    enrolment: FlowEnrolment, first_sent: datetime | object | None = UNREAD
) -> datetime | None:
    """When the cart's attribution window opens: its first reminder sent, or for a holdout
    cart the moment its first reminder would have gone out; None while it has not.

    ``first_sent``: when the enrolment's first reminder was sent (None: none yet), if the
    caller read it with the enrolment; otherwise it is read here (one query).
    """
    if enrolment.is_holdout:
        start = enrolment.window_opens_at
        if start is None or (enrolment.stopped_at is not None and enrolment.stopped_at < start):
            return None  # stopped (the customer ordered...) before it would have been reminded
        return start
    if first_sent is UNREAD:
        first_sent = enrolment.messages.sent().aggregate(at=Min("sent_at"))["at"]
    return cast("datetime | None", first_sent)


def _stop_series_of_customer(enrolments: list[FlowEnrolment], *, now: datetime) -> None:
    """``stop_series`` (``customer_ordered``) for the customer's other carts.

    Their series stop and their waiting reminders are cancelled in two statements,
    however many.
    """
    if not enrolments:
        return
    _stop_enrolments(enrolments, NotAbandoned.CUSTOMER_ORDERED.value, now=now)


def _stop_enrolments(enrolments: list[FlowEnrolment], reason: str, *, now: datetime) -> None:
    """Stop cart series, in memory and in one ``UPDATE``, and cancel their waiting reminders."""
    stopped = {
        "state": EnrolmentState.STOPPED,
        "stop_reason": reason,
        "stopped_at": now,
        "next_check_at": None,
        "leased_by": "",
    }
    for enrolment in enrolments:
        for name, value in stopped.items():
            setattr(enrolment, name, value)
    ids = [enrolment.pk for enrolment in enrolments]
    FlowEnrolment.objects.filter(pk__in=ids).update(**stopped, updated_at=timezone.now())
    cancel_waiting_messages(Q(enrolment_id__in=ids), reason)


def anonymise_carts(customer_id: int | None, email: str | None) -> int:
    """Forget the customer in carts, their series and messages; keep counts and revenue.

    The carts are ``forgotten`` for good (new activity never reopens them) and their
    series stop (``customer_deleted``). Returns carts.
    """
    email = normalise_email(email)
    now = timezone.now()
    who = Q(pk__in=[])
    if customer_id is not None:
        who |= Q(customer_id=customer_id)
    if email:
        who |= Q(email=email)
    carts = TrackedCart.objects.filter(who)
    cart_ids = list(carts.values_list("pk", flat=True))
    series = FlowEnrolment.objects.filter(flow=CART_FLOW, cart_id__in=cart_ids)
    series.filter(series_running()).update(
        state=EnrolmentState.STOPPED,
        stop_reason="customer_deleted",
        stopped_at=now,
        next_check_at=None,
        leased_by="",
        updated_at=now,
    )
    TrackedCart.objects.filter(pk__in=cart_ids, state=CartState.OPEN).update(
        state=CartState.FORGOTTEN
    )
    message_who = Q(enrolment__cart_id__in=cart_ids)
    if customer_id is not None:
        message_who |= Q(customer_id=customer_id)
    if email:
        message_who |= Q(recipient_email=email)
    cancel_waiting_messages(message_who, "customer_deleted")
    FlowMessage.objects.filter(message_who).update(
        customer_id=None, recipient_email=None, context={}
    )
    series.update(customer_id=None, email=None, updated_at=now)
    TrackedCart.objects.filter(pk__in=cart_ids).update(
        customer_id=None, email=None, lines=[], updated_at=now
    )
    from ..models import ContactLogEntry

    keys = [recipient_key(customer_id, None)] if customer_id is not None else []
    if email:
        keys.append(recipient_key(None, email))
    # Kept (they still count the messages), no longer naming anyone; one key per entry, as
    # a message may have been logged under the customer's id and email both.
    ContactLogEntry.objects.filter(recipient_key__in=keys).update(
        recipient_key=Concat(Value("anonymised:"), Cast("pk", CharField()))
    )
    return len(cart_ids)
