"""Events that start flows, and orders attributed to the flows that preceded them.

``publish(event)`` hands a ``FlowEvent`` to every registered ``EnrolmentFlow`` that lists
its name in ``events``; each returns the enrolments it wants (``on_event``), which are
enrolled idempotently. Who publishes:

``order_placed``     the order intake (``order_intake.apply_flows``), once the order is
                     no longer a draft; data: order_id, total, currency, is_first_order
``order_fulfilled``  the order intake when the snapshot says fulfilled (Saleor's
                     ``order_fulfilled`` hook enqueues the intake), at the snapshot's
                     ``fulfilled_at`` when known; data: order_id, order_number,
                     seen_at (ISO: when the intake saw it fulfilled)
``tier_changed``     the ``signals.tier_changed`` receiver, through a task; data:
                     from_tier, to_tier, reason, change_id
``points_expiring``  ``publish_expiring_points`` (a periodic scan of the lots); data:
                     points, expires_at (ISO), account_id

``attribute_order`` credits an order to the customer's enrolments whose attribution
window it falls in (one ``FlowConversion`` per enrolment) and stops the enrolments of
flows that stop on an order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Exists, Max, Min, OuterRef, Q, Sum
from django.utils import timezone

from ..domain.customers import normalise_email
from ..models import EnrolmentState, FlowConversion, FlowEnrolment, PointsLot, PurchasedOrder
from .enrolment_stops import stop_enrolment_ids
from .enrolments import EnrolmentFlow, enrol_request, naming
from .flows import FLOWS, channel_settings_loader

if TYPE_CHECKING:
    from ..conf import ChannelSettings
    from ..domain.carts import PlacedOrder
    from ..domain.orders import OrderSnapshot

logger = logging.getLogger(__name__)

ORDER_PLACED = "order_placed"
ORDER_FULFILLED = "order_fulfilled"
TIER_CHANGED = "tier_changed"
POINTS_EXPIRING = "points_expiring"
EVENTS = (ORDER_PLACED, ORDER_FULFILLED, TIER_CHANGED, POINTS_EXPIRING)
EXPIRING_POINTS_HORIZON = timedelta(days=31)
FULFILLED_STATUS = "fulfilled"  # Saleor's OrderStatus.FULFILLED


@dataclass(frozen=True)
class FlowEvent:
    """Something that happened to a customer in a channel; ``data`` is JSON-native."""

    name: str
    channel_slug: str
    occurred_at: datetime
    customer_id: int | None = None
    email: str | None = None
    language_code: str = "en"
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**vars(self), "occurred_at": self.occurred_at.isoformat()}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> FlowEvent:
        return cls(**{**raw, "occurred_at": datetime.fromisoformat(raw["occurred_at"])})


def enrolment_flows(event_name: str | None = None) -> list[EnrolmentFlow]:
    """The registered enrolment flows on events and the engine's attribution.

    Those that take ``event_name``, when given. Flows that credit orders themselves (the
    cart flow, ``attributes_own_orders``) take neither, so the order intake's flow part
    stays off while only they are on.
    """
    return [
        flow
        for flow in FLOWS.values()
        if isinstance(flow, EnrolmentFlow)
        and not flow.attributes_own_orders
        and (event_name is None or event_name in flow.events)
    ]


def publish_order_events(
    order: OrderSnapshot, settings: ChannelSettings, *, now: datetime | None = None
) -> list[FlowEnrolment]:
    """``order_placed`` for a placed order, and ``order_fulfilled`` once it is fulfilled.

    ``is_first_order``: the purchase history knows no earlier counted order of the
    customer in the channel (the intake records this order before the flows see it).
    """
    now = now or timezone.now()
    enrolled: list[FlowEnrolment] = []
    base: dict[str, Any] = {
        "channel_slug": order.channel_slug,
        "customer_id": order.customer_id,
        "email": order.email,
        "language_code": order.language_code,
    }
    if any(flow.is_enabled(settings) for flow in enrolment_flows(ORDER_PLACED)):
        who = (
            Q(customer_id=order.customer_id)
            if order.customer_id is not None
            else Q(customer_id__isnull=True, email=normalise_email(order.email))
        )
        earlier = PurchasedOrder.objects.filter(
            who, channel_slug=order.channel_slug, counts=True, placed_at__lt=order.created_at
        ).exclude(order_id=order.order_id)
        data = {
            "order_id": order.order_id,
            "total": str(order.total_amount),
            "currency": order.currency,
            "is_first_order": not earlier.exists(),
            "order_number": order.number,
            # When the intake first saw the order paid (care counted from payment).
            "paid_seen_at": now.isoformat() if order.is_fully_paid else None,
        }
        event = FlowEvent(ORDER_PLACED, occurred_at=order.created_at, data=data, **base)
        enrolled += publish(event, settings=settings, now=now)
    if order.status == FULFILLED_STATUS and enrolment_flows(ORDER_FULFILLED):
        # The shop's fulfilment moment when the snapshot carries it (a task retried or a
        # reconciliation hours later still counts from the fulfilment), else now.
        event = FlowEvent(
            ORDER_FULFILLED,
            occurred_at=min(order.fulfilled_at or now, now),
            data={
                "order_id": order.order_id,
                "order_number": order.number,
                "seen_at": now.isoformat(),
            },
            **base,
        )
        enrolled += publish(event, settings=settings, now=now)
    return enrolled


def publish(
    event: FlowEvent, *, settings: ChannelSettings | None = None, now: datetime | None = None
) -> list[FlowEnrolment]:
    """Enrol whatever the event starts; returns the enrolments (new or already there).

    Raises ``ValueError`` for an unknown event name. A flow that raises is logged and
    skipped: the other flows still enrol.
    """
    if event.name not in EVENTS:
        raise ValueError(f"Unknown flow event {event.name!r}; one of {', '.join(EVENTS)}.")
    flows = enrolment_flows(event.name)
    if not flows:
        return []
    settings = settings or channel_settings_loader()(event.channel_slug)
    if settings is None:
        return []
    flows = [flow for flow in flows if flow.is_enabled(settings)]
    enrolled = []
    for flow in flows:
        try:
            for request in flow.on_event(event, settings):
                enrolment = enrol_request(flow, request, settings=settings, now=now)
                if enrolment is not None:
                    enrolled.append(enrolment)
        except Exception:
            logger.exception("Flow %s could not take event %s", flow.name, event.name)
    return enrolled


def attribute_order(
    order: PlacedOrder, settings: ChannelSettings, *, now: datetime | None = None
) -> list[FlowConversion]:
    """Credit the order to the customer's enrolments whose window it falls in.

    A window opens at the enrolment's first message sent (the holdout: when it would
    have gone out, ``window_opens_at``) and lasts ``settings.messaging.attribution_window``.
    Idempotent (one conversion per enrolment, and an order already credited to an
    enrolment is not credited again). Flows with ``stops_on_order`` are stopped.
    """
    own = [name for name, flow in FLOWS.items() if getattr(flow, "attributes_own_orders", False)]
    stopping = [name for name, flow in FLOWS.items() if getattr(flow, "stops_on_order", False)]
    # One statement reads the enrolments the order stops (active, of a flow that stops on
    # an order, anchored before it) and those it may be credited to (no conversion yet),
    # the latter with their window: the first message sent and the last step sent before
    # the order. No test of the anchor for crediting: a flow may anchor ahead of its
    # messages (points expiring: the expiry), and the window opens only once a message
    # went out (or would have). The one-to-one key refuses a second conversion should a
    # concurrent intake credit one meanwhile.
    stops = Q(flow__in=stopping, state=EnrolmentState.ACTIVE, anchor_at__lt=order.placed_at)
    read = (
        FlowEnrolment.objects.filter(
            naming(order.customer_id, order.email), channel_slug=order.channel_slug
        )
        .exclude(flow__in=own)
        .annotate(
            credited=Exists(FlowConversion.objects.filter(enrolment=OuterRef("pk"))),
            first_sent=Min("messages__sent_at"),
            last_step_sent=Max(
                "messages__step",
                filter=Q(messages__state="sent", messages__sent_at__lte=order.placed_at),
            ),
        )
        .filter(stops | Q(credited=False) if stopping else Q(credited=False))
    )
    enrolments = list(read)
    stopped = [
        enrolment
        for enrolment in enrolments
        if enrolment.flow in stopping
        and enrolment.state == EnrolmentState.ACTIVE
        and enrolment.anchor_at < order.placed_at
    ]
    if stopped:
        stop_enrolment_ids([enrolment.pk for enrolment in stopped], "customer_ordered", now=now)
        for enrolment in stopped:
            enrolment.state = EnrolmentState.STOPPED
    # An enrolment still waiting for its first message is no candidate (read after the
    # stop above: one it stopped is).
    candidates = [
        enrolment
        for enrolment in enrolments
        if not enrolment.credited
        and not (
            enrolment.state == EnrolmentState.ACTIVE
            and enrolment.next_step == 1
            and not enrolment.is_holdout
        )
    ]
    window = settings.messaging.attribution_window
    conversions = []
    for enrolment in candidates:
        opened = enrolment.window_opens_at if enrolment.is_holdout else enrolment.first_sent
        if opened is None or not opened <= order.placed_at <= opened + window:
            continue
        step = None if enrolment.is_holdout else enrolment.last_step_sent
        conversions.append(
            FlowConversion.objects.create(
                enrolment=enrolment,
                flow=enrolment.flow,
                channel_slug=order.channel_slug,
                order_id=order.order_id,
                revenue=max(order.total, Decimal(0)),
                currency=order.currency,
                step=step,
                is_holdout=enrolment.is_holdout,
                variant=enrolment.variant,
                via=FlowConversion.Via.SAME_CUSTOMER,
                converted_at=order.placed_at,
            )
        )
    return conversions


def publish_expiring_points(
    *, now: datetime | None = None, horizon: timedelta = EXPIRING_POINTS_HORIZON
) -> int:
    """Publish ``points_expiring`` per account whose points expire within ``horizon``.

    One grouped query over the lots' partial expiry index (cost follows the lots about to
    expire, not the ledger), then one event per account: the points expiring within the
    horizon and the earliest of their expiry moments. Idempotent downstream (a flow enrols
    once per account and expiry date, as its cycle). Returns the events published.
    """
    now = now or timezone.now()
    if not enrolment_flows(POINTS_EXPIRING):
        return 0
    rows = (
        PointsLot.objects.filter(remaining__gt=0, expires_at__gt=now, expires_at__lte=now + horizon)
        .values(
            "account_id",
            "account__channel_slug",
            "account__customer_id",
            "account__email",
        )
        .annotate(first_expiry=Min("expires_at"), points=Sum("remaining"))
        .order_by("account_id")
    )
    published = 0
    for row in rows.iterator(chunk_size=500):
        publish(
            FlowEvent(
                name=POINTS_EXPIRING,
                channel_slug=row["account__channel_slug"],
                occurred_at=now,
                customer_id=row["account__customer_id"],
                email=row["account__email"],
                data={
                    "account_id": row["account_id"],
                    "points": int(row["points"]),
                    "expires_at": row["first_expiry"].isoformat(),
                },
            ),
            now=now,
        )
        published += 1
    return published
