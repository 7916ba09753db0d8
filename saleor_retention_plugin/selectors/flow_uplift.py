"""Every flow against its holdout: conversions with and without messages, and the uplift.

``flow_uplifts`` is what the retention report shows per flow. No writes here. Both groups
are counted on the same basis, the one attribution uses (``flow_events.attribute_order``,
``services.carts.record_order``): an enrolment counts once its attribution window opened
by ``now``, for messaged enrolments at their first message sent, for the holdout when
its first message would have gone out (``window_opens_at``) while it was still running.
A converted enrolment is one with a ``FlowConversion`` placed by ``now``. The cart flow
keeps its own denominators (abandoned carts, ``selectors.carts``) until its progress
moves onto enrolments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from ..constants import CART_FLOW
from ..domain import experiments
from ..models import FlowConversion, FlowEnrolment, FlowMessage
from .carts import cart_recovery_summary

if TYPE_CHECKING:
    from datetime import datetime


def flow_uplifts(channel_slug: str, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """One entry per flow with enrolments (or abandoned carts) in the channel, by name.

    Each: ``{"flow", "enrolled", "held_out", "sent", "uplift": experiments.Uplift,
    "revenue": {"messaged"|"holdout": {currency: decimal text}}}``. ``enrolled`` counts
    every enrolment there is (``held_out`` of them in the holdout), ``sent`` the
    flow's messages sent by ``now`` (the outbox rows); ``uplift.treated`` / ``control``
    count the messaged and held-out enrolments whose window opened, ``*_converted`` those
    that converted. For the cart flow ``enrolled`` counts abandoned carts. Four grouped
    queries, whatever the number of flows, plus the cart summary's.
    """
    now = now or timezone.now()
    rows = (
        FlowEnrolment.objects.filter(pk__in=_ids(channel_slug, now))
        .values("flow", "is_holdout")
        .annotate(
            subjects=Count("id"),
            converted=Count("id", filter=Q(conversion__converted_at__lte=now)),
        )
        .order_by()
    )
    tallies: dict[str, dict[bool, tuple[int, int]]] = {}
    for row in rows:
        tallies.setdefault(row["flow"], {})[row["is_holdout"]] = (
            row["subjects"],
            row["converted"],
        )
    revenue: dict[str, dict[str, dict[str, str]]] = {}
    for sums in (
        FlowConversion.objects.filter(enrolment__in=_ids(channel_slug, now), converted_at__lte=now)
        .values("flow", "is_holdout", "currency")
        .annotate(total=Sum("revenue"))
        .order_by("flow", "currency")
    ):
        group = "holdout" if sums["is_holdout"] else "messaged"
        by_currency = revenue.setdefault(sums["flow"], {}).setdefault(group, {})
        by_currency[sums["currency"]] = str(sums["total"])
    started: dict[str, dict[bool, int]] = {}
    for flow, is_holdout, count in (
        FlowEnrolment.objects.filter(channel_slug=channel_slug)
        .exclude(flow=CART_FLOW)
        .values("flow", "is_holdout")
        .annotate(count=Count("id"))
        .values_list("flow", "is_holdout", "count")
        .order_by()
    ):
        started.setdefault(flow, {})[is_holdout] = count
    sent = _sent(channel_slug, now)
    entries = []
    for flow in sorted(tallies.keys() | started.keys()):
        (messaged, messaged_converted) = tallies.get(flow, {}).get(False, (0, 0))
        (held, held_converted) = tallies.get(flow, {}).get(True, (0, 0))
        groups = started.get(flow, {})
        entries.append(
            {
                "flow": flow,
                "enrolled": groups.get(False, 0) + groups.get(True, 0),
                "held_out": groups.get(True, 0),
                "sent": sent.get(flow, 0),
                "uplift": experiments.uplift(
                    messaged,
                    messaged_converted,
                    held,
                    held_converted,
                    wording=experiments.ENROLMENTS,
                ),
                "revenue": {
                    "messaged": revenue.get(flow, {}).get("messaged", {}),
                    "holdout": revenue.get(flow, {}).get("holdout", {}),
                },
            }
        )
    cart = _cart_entry(channel_slug, now, sent.get(CART_FLOW, 0))
    if cart is not None:
        entries.append(cart)
    return sorted(entries, key=lambda entry: entry["flow"])


def _sent(channel_slug: str, now: datetime) -> dict[str, int]:
    """Messages sent by ``now`` per flow (the outbox rows)."""
    return dict(
        FlowMessage.objects.sent()
        .filter(channel_slug=channel_slug, sent_at__lte=now)
        .values("flow")
        .annotate(count=Count("id"))
        .values_list("flow", "count")
        .order_by()
    )


def _ids(channel_slug: str, now: datetime) -> Any:
    """The enrolments counted by ``now`` (see the module), as a subquery of ids."""
    sent = FlowMessage.objects.sent().filter(enrolment=OuterRef("pk"), sent_at__lte=now)
    return (
        FlowEnrolment.objects.filter(channel_slug=channel_slug)
        .exclude(flow=CART_FLOW)
        .annotate(messaged=Exists(sent))
        .filter(
            Q(is_holdout=False, messaged=True)
            | (
                Q(is_holdout=True, window_opens_at__lte=now)
                & (Q(stopped_at__isnull=True) | Q(stopped_at__gte=F("window_opens_at")))
            )
        )
        .values("pk")
    )


def _cart_entry(channel_slug: str, now: datetime, sent: int) -> dict[str, Any] | None:
    summary = cart_recovery_summary(channel_slug, now=now)
    reminded, holdout = summary["groups"]["reminded"], summary["groups"]["holdout"]
    if not reminded["abandoned_carts"] and not holdout["abandoned_carts"]:
        return None
    return {
        "flow": CART_FLOW,
        "enrolled": reminded["abandoned_carts"] + holdout["abandoned_carts"],
        "held_out": holdout["abandoned_carts"],
        "sent": sent,
        "uplift": experiments.uplift(
            reminded["abandoned_carts"],
            reminded["recovered_carts"],
            holdout["abandoned_carts"],
            holdout["recovered_carts"],
        ),
        "revenue": {"messaged": reminded["revenue"], "holdout": holdout["revenue"]},
    }
