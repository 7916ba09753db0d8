"""One periodic refresh of a channel's lifecycle state: run-outs, dormancy, co-purchases.

``refresh_lifecycle`` rebuilds what the replenishment and win-back flows (when switched
on in the channel) and the recommendations read, each set-based and idempotent; the
``refresh_lifecycle_task`` runs it for every channel with orders after the segments'
refresh (win-back reads the stored segments).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils import timezone

from . import recommendations, replenishment, scan_gates, winback

if TYPE_CHECKING:
    from datetime import datetime

    from ..conf import ChannelSettings


def refresh_lifecycle(
    channel: str,
    settings: ChannelSettings,
    *,
    now: datetime | None = None,
    rebuild: bool = False,
) -> dict[str, int]:
    """Refresh the channel's kept lifecycle rows; returns rows planned per kind.

    Replenishment and win-back re-plan only the customers whose purchase history changed
    since their last refresh, or everyone on a full rebuild (``rebuild``, the first run, a
    settings change, at least daily; ``services.due_rows``).

    A flow switched off keeps no rows (they are removed), so switching it on later starts
    from a fresh plan. Co-purchase pairs are kept whatever the flows (other messages show
    recommendations too).
    """
    now = now or timezone.now()
    planned: dict[str, int] = {}
    if settings.replenishment.replenishment_enabled:
        planned["replenishment"] = replenishment.refresh_replenishment(
            channel, settings.replenishment, now=now, rebuild=rebuild
        ).planned
    else:
        replenishment.forget_channel(channel)
    if settings.winback.winback_enabled:
        planned["winback"] = winback.refresh_winback(
            channel, settings.winback, now=now, rebuild=rebuild
        ).planned
    else:
        winback.forget_channel(channel)
    planned["co_purchase_pairs"] = recommendations.refresh_co_purchases(
        channel, settings.recommendations.recommendations_min_support, now=now
    ).pairs
    if planned.get("replenishment") or planned.get("winback"):  # their scans look again
        scan_gates.inputs_changed(scan_gates.REPURCHASE_PLAN)
    return planned
