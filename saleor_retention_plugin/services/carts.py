"""Tracking carts: activity from the checkout hooks, contents from a task, orders, privacy.

``record_cart_activity`` is what a checkout hook calls inside Saleor's request: a single
``INSERT ... ON CONFLICT DO UPDATE`` that reads no lines and no prices. Everything that
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
from typing import TYPE_CHECKING, Any

from django.db import OperationalError, connection, transaction
from django.db.models import CharField, Max, Min, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from .. import app_settings
from ..constants import CART_FLOW
from ..domain.abandonment import NotAbandoned
from ..domain.carts import CartActivity, CartContents, PlacedOrder
from ..domain.customers import normalise_email
from ..domain.holdout import is_in_holdout
from ..models import (
    CartState,
    EnrolmentState,
    FlowConversion,
    FlowEnrolment,
    FlowMessage,
    MessageState,
    SubjectKind,
    TrackedCart,
)
from .consent import recipient_key

if TYPE_CHECKING:
    from datetime import datetime

    from ..conf import ChannelSettings

logger = logging.getLogger(__name__)

SALEOR_CART_LOADER = app_settings.SALEOR_CART_LOADER

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout expired

CartContentsLoader = Callable[[str], CartContents | None]


def holdout_salt(channel_slug: str) -> str:
    # Per channel, so each channel draws its own holdout group.
    return f"cart-holdout:{channel_slug}"


_UPSERT_ACTIVITY = """
INSERT INTO {table} AS cart (
    checkout_token, channel_slug, customer_id, email, language_code, currency, timezone,
    last_activity_at, lines, state, is_holdout, next_step, next_check_at, stop_reason,
    sweep_failures, created_at, updated_at
) VALUES (
    %(token)s, %(channel_slug)s, %(customer_id)s, %(email)s, %(language_code)s, %(currency)s,
    '', %(occurred_at)s, '[]'::jsonb, 'open', %(is_holdout)s, 1, %(first_check_at)s, '',
    0, %(now)s, %(now)s
)
ON CONFLICT (checkout_token) DO UPDATE SET
    channel_slug = EXCLUDED.channel_slug,
    customer_id = EXCLUDED.customer_id,
    email = COALESCE(EXCLUDED.email, cart.email),
    language_code = EXCLUDED.language_code,
    currency = COALESCE(NULLIF(EXCLUDED.currency, ''), cart.currency),
    last_activity_at = GREATEST(cart.last_activity_at, EXCLUDED.last_activity_at),
    -- a cart nobody can be reminded of is not armed; an activity bringing a contact arms it
    next_check_at = CASE
        WHEN EXCLUDED.customer_id IS NULL AND COALESCE(EXCLUDED.email, cart.email) IS NULL
        THEN NULL
        ELSE GREATEST(cart.last_activity_at, EXCLUDED.last_activity_at)
            + (%(next_check_at)s - EXCLUDED.last_activity_at)
    END,
    state = 'open',
    stop_reason = '',
    series_stopped_at = NULL,
    sweep_failures = 0,
    updated_at = EXCLUDED.updated_at
WHERE cart.state <> 'converted' AND cart.stop_reason <> 'customer_deleted'
"""


def record_cart_activity(
    activity: CartActivity,
    settings: ChannelSettings,
    *,
    now: datetime | None = None,
    lock_timeout: str | None = None,
) -> bool:
    """Note that the cart changed: one upsert, no reads of lines or prices.

    New activity restarts the clock (the sweep looks again one abandonment threshold
    later) and reopens a cart whose series had stopped, unless it became an order or
    its customer was deleted (a forgotten customer stays forgotten). A cart with neither
    an email nor a customer is tracked but not armed: the sweep never looks at it until
    an activity brings a contact, so anonymous browsing costs the sweep nothing.

    ``lock_timeout`` (PostgreSQL, e.g. ``"100ms"``) bounds the wait for the cart's row:
    when another transaction holds it longer, nothing is recorded and False is returned
    (two more queries, to set and restore the timeout; the caller's own setting is kept).
    """
    now = now or timezone.now()
    params: dict[str, Any] = {
        "token": str(activity.checkout_token),
        "channel_slug": activity.channel_slug,
        "customer_id": activity.customer_id,
        "email": activity.email,
        "language_code": (activity.language_code or "en")[:35],
        "currency": (activity.currency or "")[:3],
        "occurred_at": activity.occurred_at,
        "is_holdout": is_in_holdout(
            str(activity.checkout_token),
            salt=holdout_salt(activity.channel_slug),
            percent=settings.messaging.holdout_percent,
        ),
        "next_check_at": activity.occurred_at + settings.reminders.abandonment_threshold,
        "now": now,
    }
    has_contact = activity.customer_id is not None or bool(activity.email)
    params["first_check_at"] = params["next_check_at"] if has_contact else None
    if connection.vendor != "postgresql":
        _record_activity_portably(params)
        return True
    upsert = _UPSERT_ACTIVITY.format(table=TrackedCart._meta.db_table)
    if lock_timeout is None:
        with connection.cursor() as cursor:
            cursor.execute(upsert, params)
        return True
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # SET LOCAL semantics: rolled back with the savepoint on error, restored below
            # otherwise, so the surrounding transaction keeps its own lock timeout.
            cursor.execute(
                "SELECT current_setting('lock_timeout'), set_config('lock_timeout', %s, true)",
                [lock_timeout],
            )
            row = cursor.fetchone()
            cursor.execute(upsert, params)
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [row[0] if row else "0"])
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        logger.info("Cart %s is busy; its activity is left to the next one", params["token"])
        return False
    return True


def _record_activity_portably(params: dict[str, Any]) -> None:
    """The upsert above for databases without it (the sandbox's SQLite), same rules.

    SQLite serialises writers, so reading and then writing in one transaction is as safe
    there as the single statement is on PostgreSQL.
    """
    with transaction.atomic():
        cart = TrackedCart.objects.filter(checkout_token=params["token"]).first()
        if cart is None:
            TrackedCart.objects.create(
                checkout_token=params["token"],
                channel_slug=params["channel_slug"],
                customer_id=params["customer_id"],
                email=params["email"],
                language_code=params["language_code"],
                currency=params["currency"],
                last_activity_at=params["occurred_at"],
                is_holdout=params["is_holdout"],
                next_check_at=params["first_check_at"],
            )
            return
        if cart.state == CartState.CONVERTED or cart.stop_reason == "customer_deleted":
            return
        last_activity = max(cart.last_activity_at, params["occurred_at"])
        cart.channel_slug = params["channel_slug"]
        cart.customer_id = params["customer_id"]
        cart.email = params["email"] or cart.email
        cart.language_code = params["language_code"]
        cart.currency = params["currency"] or cart.currency
        cart.last_activity_at = last_activity
        has_contact = cart.customer_id is not None or bool(cart.email)
        cart.next_check_at = (
            last_activity + (params["next_check_at"] - params["occurred_at"])
            if has_contact
            else None
        )
        cart.state = CartState.OPEN
        cart.stop_reason = ""
        cart.series_stopped_at = None
        cart.save()


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
            return cart  # converted, or closed for good: nothing to refresh
        if contents is None:
            stop_series(cart, NotAbandoned.DELETED.value, now=now)
            return cart
        apply_contents(cart, contents, now=now)
        cart.save()
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


def stop_series(cart: TrackedCart, reason: str, *, now: datetime, converted: bool = False) -> None:
    """End the cart's series and cancel whatever it still had waiting. Saves the cart."""
    cart.state = CartState.CONVERTED if converted else CartState.CLOSED
    cart.stop_reason = reason
    cart.series_stopped_at = now
    cart.next_check_at = None
    cart.save()
    cancel_waiting_messages(Q(cart=cart), reason)


def cancel_waiting_messages(which: Q, reason: str) -> int:
    return (
        FlowMessage.objects.waiting()
        .filter(which)
        .update(state=MessageState.CANCELLED, cancel_reason=reason, updated_at=timezone.now())
    )


def record_order(
    order: PlacedOrder, settings: ChannelSettings, *, now: datetime | None = None
) -> FlowConversion | None:
    """An order arrived: stop the customer's cart series and credit a recovered cart.

    The order's own cart (Saleor keeps the checkout token on the order) becomes
    ``converted``; the customer's other open carts in the channel stop with
    ``customer_ordered``. A cart counts as recovered when the order falls within its
    attribution window (see ``attribution_window_start``): its own cart first (``via``
    subject: the cart was completed), else the customer's cart whose window opened last
    (``via`` same_customer: the customer ordered something else). The recovery is the
    engine's ``FlowConversion`` of the cart's enrolment (``cart_enrolment``), with the
    order's revenue and the last reminder step sent before it (none for holdout carts).
    An order before a cart's window opened recovers nothing: no reminder can have caused it.
    Idempotent: Saleor may report the same order more than once.
    """
    now = now or timezone.now()
    # Inside the order intake's transaction no savepoint is needed: any error rolls the
    # whole intake back.
    with transaction.atomic(savepoint=False):
        # The customer's carts it may stop or credit (open, or stopped by an earlier order)
        # and the order's own cart, locked in one statement, in id order.
        candidates = TrackedCart.objects.of_customer(
            order.channel_slug, customer_id=order.customer_id, email=order.email
        ).filter(Q(state=CartState.OPEN) | Q(stop_reason=NotAbandoned.CUSTOMER_ORDERED.value))
        if order.checkout_token:
            candidates |= TrackedCart.objects.filter(checkout_token=order.checkout_token)
        carts = list(candidates.select_for_update().order_by("pk"))
        if (
            not carts
            or FlowConversion.objects.filter(flow=CART_FLOW, order_id=order.order_id).exists()
        ):
            return None  # no cart to stop or credit, or the order was recorded already
        token = uuid.UUID(order.checkout_token) if order.checkout_token else None
        own_cart = next((cart for cart in carts if cart.checkout_token == token), None)
        customer_carts = [cart for cart in carts if cart is not own_cart]
        # Before this order stops them: a window is one the cart reached while still open.
        starts = {
            cart.pk: attribution_window_start(cart)
            for cart in [*customer_carts, *([own_cart] if own_cart else [])]
        }
        # The series stopped when the order was placed (its task may run later).
        stopped_at = min(now, order.placed_at)
        if own_cart is not None and own_cart.state != CartState.CONVERTED:
            stop_series(own_cart, NotAbandoned.ORDERED.value, now=stopped_at, converted=True)
        for cart in customer_carts:
            if cart.state == CartState.OPEN:
                stop_series(cart, NotAbandoned.CUSTOMER_ORDERED.value, now=stopped_at)

        def opened_at(cart: TrackedCart) -> datetime | None:
            """When the cart's window opened, if the order falls within it."""
            start = starts[cart.pk]
            if (
                start is None
                or not start <= order.placed_at <= start + settings.messaging.attribution_window
            ):
                return None
            if FlowConversion.objects.filter(
                flow=CART_FLOW, enrolment__subject_key=cart_subject_key(cart)
            ).exists():
                return None
            return start

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
        last_step = (
            None
            if recovered.is_holdout
            else recovered.messages.sent()
            .filter(sent_at__lte=order.placed_at)
            .aggregate(step=Max("step"))["step"]
        )
        return FlowConversion.objects.create(
            enrolment=cart_enrolment(recovered, starts[recovered.pk]),
            flow=CART_FLOW,
            channel_slug=order.channel_slug,
            order_id=order.order_id,
            revenue=max(order.total, Decimal(0)),
            currency=order.currency,
            step=last_step,
            is_holdout=recovered.is_holdout,
            via=via,
            converted_at=order.placed_at,
        )


def cart_subject_key(cart: TrackedCart) -> str:
    """The cart's subject on the engine: ``cart:<checkout token>``."""
    return f"cart:{cart.checkout_token}"


def cart_enrolment(cart: TrackedCart, window_opens_at: datetime | None) -> FlowEnrolment:
    """The cart's ``FlowEnrolment`` (flow ``cart``), written when the cart converts.

    The series' progress still lives on ``TrackedCart``; this row carries the cart's
    attribution on the engine's one conversion table: its holdout group, where its window
    opened and why its series stopped. Never due (no ``next_check_at``), so the scheduler
    never looks at it. Idempotent (the enrolment's unique flow, channel, subject, cycle).
    """
    enrolment, _ = FlowEnrolment.objects.get_or_create(
        flow=CART_FLOW,
        channel_slug=cart.channel_slug,
        subject_key=cart_subject_key(cart),
        cycle=1,
        defaults={
            "subject_kind": SubjectKind.CART,
            "customer_id": cart.customer_id,
            "email": cart.email,
            "language_code": cart.language_code,
            "anchor_at": cart.abandoned_at or cart.last_activity_at,
            "state": EnrolmentState.STOPPED,
            "next_step": cart.next_step,
            "is_holdout": cart.is_holdout,
            "window_opens_at": window_opens_at,
            "stop_reason": cart.stop_reason or NotAbandoned.ORDERED.value,
            "stopped_at": cart.series_stopped_at,
        },
    )
    return enrolment


def attribution_window_start(cart: TrackedCart) -> datetime | None:
    """When the cart's attribution window opens: its first reminder sent, or for a holdout
    cart the moment its first reminder would have gone out; None while it has not.
    """
    if cart.is_holdout:
        start = cart.holdout_window_starts_at
        if start is None or (cart.series_stopped_at is not None and cart.series_stopped_at < start):
            return None  # stopped (the customer ordered...) before it would have been reminded
        return start
    first_sent: datetime | None = cart.messages.sent().aggregate(at=Min("sent_at"))["at"]
    return first_sent


def anonymise_carts(customer_id: int | None, email: str | None) -> int:
    """Forget the customer in carts and messages; keep counts and revenue. Returns carts."""
    email = normalise_email(email)
    now = timezone.now()
    who = Q(pk__in=[])
    if customer_id is not None:
        who |= Q(customer_id=customer_id)
    if email:
        who |= Q(email=email)
    carts = TrackedCart.objects.filter(who)
    cart_ids = list(carts.values_list("pk", flat=True))
    open_carts = TrackedCart.objects.filter(pk__in=cart_ids, state=CartState.OPEN)
    open_carts.update(
        state=CartState.CLOSED,
        stop_reason="customer_deleted",
        series_stopped_at=now,
        next_check_at=None,
    )
    message_who = Q(cart_id__in=cart_ids)
    if customer_id is not None:
        message_who |= Q(customer_id=customer_id)
    if email:
        message_who |= Q(recipient_email=email)
    cancel_waiting_messages(message_who, "customer_deleted")
    FlowMessage.objects.filter(message_who).update(
        customer_id=None, recipient_email=None, context={}
    )
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
