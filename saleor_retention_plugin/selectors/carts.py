"""Read-only questions about abandoned carts and what the reminders recovered.

``cart_recovery_summary`` is what the staff API (``graphql/analytics.py``), the loyalty
selector and the sandbox report show. No writes here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from ..constants import CART_FLOW
from ..models import (
    RUNNING_STATES,
    CartState,
    FlowConversion,
    FlowEnrolment,
    FlowMessage,
    TrackedCart,
)
from .sums import at_scale

if TYPE_CHECKING:
    from datetime import datetime


def cart_recovery_summary(channel_slug: str, *, now: datetime | None = None) -> dict[str, Any]:
    """What the reminders recovered: reminded carts against the holdout, on the same basis.

    Each group counts the abandoned carts (their series, the cart flow's ``FlowEnrolment``
    rows) whose attribution window opened before ``now`` (reminded: a reminder was sent;
    holdout: the moment the first reminder would have gone out came while the series was
    still running) and the orders placed within the window (the
    cart flow's ``FlowConversion`` rows), split into carts completed and other orders of
    the same customer.
    Rates are per 100 carts, one decimal; revenue per currency, as decimal text.
    """
    now = now or timezone.now()
    series = FlowEnrolment.objects.filter(flow=CART_FLOW, channel_slug=channel_slug)
    reminded = _reminded(channel_slug, now)
    held_out = series.filter(is_holdout=True, window_opens_at__lte=now).filter(
        Q(stopped_at__isnull=True) | Q(stopped_at__gte=F("window_opens_at"))
    )
    conversions = FlowConversion.objects.filter(
        flow=CART_FLOW, channel_slug=channel_slug, converted_at__lte=now
    )
    groups = {}
    for label, carts, is_holdout in (("reminded", reminded, False), ("holdout", held_out, True)):
        recoveries = conversions.filter(is_holdout=is_holdout)
        total = carts.count()
        by_way = dict(recoveries.values_list("via").annotate(n=Count("id")).order_by())
        completed = by_way.get(FlowConversion.Via.SUBJECT, 0)
        other_orders = by_way.get(FlowConversion.Via.SAME_CUSTOMER, 0)
        groups[label] = {
            "abandoned_carts": total,
            "recovered_carts": completed + other_orders,
            "recovery_rate": _rate(completed + other_orders, total),
            "completed_carts": completed,
            "completion_rate": _rate(completed, total),
            "other_orders": other_orders,
            "other_order_rate": _rate(other_orders, total),
            # Per currency: a channel's currency may change, and sums across them mean nothing.
            "revenue": {
                currency: str(at_scale(revenue, FlowConversion, "revenue"))
                for currency, revenue in recoveries.values_list("currency")
                .annotate(revenue=Sum("revenue"))
                .order_by("currency")
            },
        }
    per_step = list(
        conversions.filter(is_holdout=False)
        .values("step", "currency")
        .annotate(carts=Count("id"), revenue=Sum("revenue"))
        .order_by("step", "currency")
    )
    messages = FlowMessage.objects.filter(channel_slug=channel_slug, flow=CART_FLOW)
    return {
        "channel_slug": channel_slug,
        "groups": groups,
        "recovered_by_step": [
            {
                "step": row["step"],
                "currency": row["currency"],
                "carts": row["carts"],
                "revenue": str(at_scale(row["revenue"], FlowConversion, "revenue")),
            }
            for row in per_step
        ],
        "messages": dict(messages.values_list("state").annotate(n=Count("id")).order_by()),
        # Carts whose series may still run (not stopped), with lines or not read yet.
        "open_carts": TrackedCart.objects.filter(channel_slug=channel_slug, state=CartState.OPEN)
        .filter(~Q(line_count=0))
        .filter(Exists(series.filter(state__in=RUNNING_STATES, cart=OuterRef("pk"))))
        .count(),
    }


def _reminded(channel_slug: str, now: datetime) -> Any:
    """The reminded carts' series counted by ``now`` (a reminder was sent)."""
    return FlowEnrolment.objects.filter(
        flow=CART_FLOW, channel_slug=channel_slug, is_holdout=False
    ).filter(Exists(FlowMessage.objects.sent().filter(enrolment=OuterRef("pk"), sent_at__lte=now)))


def reminded_by_variant(channel_slug: str, now: datetime) -> dict[str, dict[str, Any]]:
    """The reminded group of ``cart_recovery_summary`` split by the series' variant.

    ``{variant: {"carts", "recovered", "revenue": {currency: decimal text},
    "messages_sent"}}``, on the summary's basis, so the variants add up to its reminded
    group; empty when no reminded cart has a variant (one variant).
    """
    groups: dict[str, dict[str, Any]] = {}

    def group(letter: str) -> dict[str, Any]:
        return groups.setdefault(
            letter, {"carts": 0, "recovered": 0, "revenue": {}, "messages_sent": 0}
        )

    for letter, count in (
        _reminded(channel_slug, now).values_list("variant").annotate(n=Count("id")).order_by()
    ):
        group(letter)["carts"] = count
    conversions = FlowConversion.objects.filter(
        flow=CART_FLOW, channel_slug=channel_slug, converted_at__lte=now, is_holdout=False
    )
    for letter, currency, count, revenue in (
        conversions.values_list("variant", "currency")
        .annotate(n=Count("id"), revenue=Sum("revenue"))
        .order_by("variant", "currency")
    ):
        group(letter)["recovered"] += count
        group(letter)["revenue"][currency] = str(at_scale(revenue, FlowConversion, "revenue"))
    for letter, count in (
        FlowMessage.objects.sent()
        .filter(channel_slug=channel_slug, flow=CART_FLOW, sent_at__lte=now)
        .values_list("enrolment__variant")
        .annotate(n=Count("id"))
        .order_by()
    ):
        group(letter or "")["messages_sent"] += count
    return groups if any(groups) else {}


def _rate(part: int, whole: int) -> str:
    """Per 100, one decimal, as text ("0" of nothing)."""
    return str((Decimal(part) / whole * 100).quantize(Decimal("0.1"))) if whole else "0"
