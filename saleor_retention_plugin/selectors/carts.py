"""Read-only questions about abandoned carts and what the reminders recovered.

``cart_recovery_summary`` is what the staff API (``graphql/analytics.py``), the loyalty
selector and the sandbox report show. No writes here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum

from ..constants import CART_FLOW
from ..models import CartRecovery, CartState, FlowMessage, TrackedCart


def cart_recovery_summary(channel_slug: str) -> dict[str, Any]:
    """Abandoned, reminded and recovered carts, reminded vs holdout, revenue per step."""
    abandoned = TrackedCart.objects.filter(channel_slug=channel_slug, abandoned_at__isnull=False)
    groups = {}
    for label, is_holdout in (("reminded", False), ("holdout", True)):
        carts = abandoned.filter(is_holdout=is_holdout)
        recoveries = CartRecovery.objects.filter(channel_slug=channel_slug, is_holdout=is_holdout)
        total = carts.count()
        recovered = recoveries.count()
        groups[label] = {
            "abandoned_carts": total,
            "recovered_carts": recovered,
            "recovery_rate": (
                str((Decimal(recovered) / total * 100).quantize(Decimal("0.1"))) if total else "0"
            ),
            # Per currency: a channel's currency may change, and sums across them mean nothing.
            "revenue": {
                currency: str(revenue)
                for currency, revenue in recoveries.values_list("currency")
                .annotate(revenue=Sum("revenue"))
                .order_by("currency")
            },
        }
    per_step = list(
        CartRecovery.objects.filter(channel_slug=channel_slug, is_holdout=False)
        .values("recovered_by_step", "currency")
        .annotate(carts=Count("id"), revenue=Sum("revenue"))
        .order_by("recovered_by_step")
    )
    messages = FlowMessage.objects.filter(channel_slug=channel_slug, flow=CART_FLOW)
    return {
        "channel_slug": channel_slug,
        "groups": groups,
        "recovered_by_step": [
            {
                "step": row["recovered_by_step"],
                "currency": row["currency"],
                "carts": row["carts"],
                "revenue": str(row["revenue"]),
            }
            for row in per_step
        ],
        "messages": dict(messages.values_list("state").annotate(n=Count("id")).order_by()),
        "open_carts": TrackedCart.objects.filter(channel_slug=channel_slug, state=CartState.OPEN)
        .filter(~Q(line_count=0))
        .count(),
    }
