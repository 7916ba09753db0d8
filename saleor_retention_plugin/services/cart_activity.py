"""Cart activity from the checkout hooks: one upsert of the cart and its series.

``record_cart_activity`` is what a checkout hook calls inside Saleor's request: a single
``INSERT ... ON CONFLICT DO UPDATE`` (the cart, then its ``FlowEnrolment`` in the same
statement) that reads no lines and no prices. Re-exported by ``services.carts``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from ..constants import CART_FLOW
from ..domain.holdout import is_in_holdout
from ..models import CartState, EnrolmentState, FlowEnrolment, SubjectKind, TrackedCart
from .flow_variants import draw_variant

if TYPE_CHECKING:
    from datetime import datetime

    from ..conf import ChannelSettings
    from ..domain.carts import CartActivity

logger = logging.getLogger(__name__)

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout expired


def holdout_salt(channel_slug: str) -> str:
    # Per channel, so each channel draws its own holdout group.
    return f"cart-holdout:{channel_slug}"


# One statement: the cart's own row, then its series' enrolment (flow ``cart``) from what
# the first half returned. A cart that became an order, or whose customer was forgotten,
# returns nothing, so its enrolment is left alone too.
_UPSERT_ACTIVITY = """
WITH cart AS (
    INSERT INTO {cart} AS cart (
        checkout_token, channel_slug, customer_id, email, language_code, currency, timezone,
        last_activity_at, lines, state, created_at, updated_at
    ) VALUES (
        %(token)s, %(channel_slug)s, %(customer_id)s, %(email)s, %(language_code)s,
        %(currency)s, '', %(occurred_at)s, '[]'::jsonb, 'open', %(now)s, %(now)s
    )
    ON CONFLICT (checkout_token) DO UPDATE SET
        channel_slug = EXCLUDED.channel_slug,
        customer_id = EXCLUDED.customer_id,
        email = COALESCE(EXCLUDED.email, cart.email),
        language_code = EXCLUDED.language_code,
        currency = COALESCE(NULLIF(EXCLUDED.currency, ''), cart.currency),
        last_activity_at = GREATEST(cart.last_activity_at, EXCLUDED.last_activity_at),
        updated_at = EXCLUDED.updated_at
    WHERE cart.state = 'open'
    RETURNING id, channel_slug, customer_id, email, language_code, last_activity_at
)
INSERT INTO {enrolment} AS enrolment (
    flow, channel_slug, subject_kind, subject_key, cycle, customer_id, email, language_code,
    anchor_at, data, cart_id, state, next_step, next_check_at, is_holdout, variant, failures,
    leased_by, stop_reason, created_at, updated_at
)
SELECT
    %(flow)s, cart.channel_slug, 'cart', %(subject_key)s, 1, cart.customer_id, cart.email,
    cart.language_code, cart.last_activity_at, '{{}}'::jsonb, cart.id, 'active', 1,
    -- a cart nobody can be reminded of is not armed; an activity bringing a contact arms it
    CASE WHEN cart.customer_id IS NULL AND cart.email IS NULL THEN NULL
        ELSE cart.last_activity_at + %(threshold)s END,
    %(is_holdout)s, %(variant)s, 0, '', '', %(now)s, %(now)s
FROM cart
ON CONFLICT (flow, channel_slug, subject_key, cycle) DO UPDATE SET
    customer_id = EXCLUDED.customer_id,
    email = EXCLUDED.email,
    language_code = EXCLUDED.language_code,
    anchor_at = EXCLUDED.anchor_at,
    cart_id = EXCLUDED.cart_id,
    -- new activity restarts the clock and reopens a stopped series (steps sent stay sent)
    next_check_at = EXCLUDED.next_check_at,
    state = 'active',
    stop_reason = '',
    stopped_at = NULL,
    failures = 0,
    leased_by = '',
    updated_at = EXCLUDED.updated_at
"""


def record_cart_activity(
    activity: CartActivity,
    settings: ChannelSettings,
    *,
    now: datetime | None = None,
    lock_timeout: str | None = None,
) -> bool:
    """Note that the cart changed: one upsert of the cart and its series, no reads of lines.

    The cart's series is its ``FlowEnrolment`` (flow ``cart``, subject ``cart:<token>``),
    written in the same statement: new activity restarts the clock (the sweep looks
    again one abandonment threshold later, ``anchor_at`` is the last activity) and
    reopens a series that had stopped, unless the cart became an order or its customer
    was deleted (a forgotten customer stays forgotten). A cart with neither an email nor
    a customer is tracked but not armed: the sweep never looks at it until an activity
    brings a contact, so anonymous browsing costs the sweep nothing. The holdout group is
    drawn once, from the checkout token, when the cart is first seen.

    ``lock_timeout`` (PostgreSQL, e.g. ``"100ms"``) bounds the wait for the cart's rows:
    when another transaction holds them longer, nothing is recorded and False is returned
    (two more queries, to set and restore the timeout; the caller's own setting is kept).
    """
    now = now or timezone.now()
    token = str(activity.checkout_token)
    params: dict[str, Any] = {
        "token": token,
        "channel_slug": activity.channel_slug,
        "customer_id": activity.customer_id,
        "email": activity.email,
        "language_code": (activity.language_code or "en")[:35],
        "currency": (activity.currency or "")[:3],
        "occurred_at": activity.occurred_at,
        "is_holdout": is_in_holdout(
            token,
            salt=holdout_salt(activity.channel_slug),
            percent=settings.messaging.holdout_percent,
        ),
        # Like the holdout, drawn once: a conflict (the cart seen again) keeps the first.
        "variant": draw_variant(CART_FLOW, f"cart:{token}", 1, activity.channel_slug, settings),
        "threshold": settings.reminders.abandonment_threshold,
        "flow": CART_FLOW,
        "subject_key": f"cart:{token}",
        "now": now,
    }
    if connection.vendor != "postgresql":
        _record_activity_portably(params)
        return True
    upsert = _UPSERT_ACTIVITY.format(
        cart=TrackedCart._meta.db_table, enrolment=FlowEnrolment._meta.db_table
    )
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
            cart = TrackedCart.objects.create(
                checkout_token=params["token"],
                channel_slug=params["channel_slug"],
                customer_id=params["customer_id"],
                email=params["email"],
                language_code=params["language_code"],
                currency=params["currency"],
                last_activity_at=params["occurred_at"],
            )
        elif cart.state != CartState.OPEN:
            return
        else:
            cart.channel_slug = params["channel_slug"]
            cart.customer_id = params["customer_id"]
            cart.email = params["email"] or cart.email
            cart.language_code = params["language_code"]
            cart.currency = params["currency"] or cart.currency
            cart.last_activity_at = max(cart.last_activity_at, params["occurred_at"])
            cart.save()
        has_contact = cart.customer_id is not None or bool(cart.email)
        series = {
            "customer_id": cart.customer_id,
            "email": cart.email,
            "language_code": cart.language_code,
            "anchor_at": cart.last_activity_at,
            "cart": cart,
            "next_check_at": (cart.last_activity_at + params["threshold"] if has_contact else None),
            "state": EnrolmentState.ACTIVE,
            "stop_reason": "",
            "stopped_at": None,
            "failures": 0,
            "leased_by": "",
        }
        updated = FlowEnrolment.objects.filter(
            flow=CART_FLOW,
            channel_slug=cart.channel_slug,
            subject_key=params["subject_key"],
            cycle=1,
        ).update(**series, updated_at=params["now"])
        if not updated:
            FlowEnrolment.objects.create(
                flow=CART_FLOW,
                channel_slug=cart.channel_slug,
                subject_kind=SubjectKind.CART,
                subject_key=params["subject_key"],
                cycle=1,
                is_holdout=params["is_holdout"],
                variant=params["variant"],
                **series,
            )
