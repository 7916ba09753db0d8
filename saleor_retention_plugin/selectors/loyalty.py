"""Points economics and cart recovery of one channel, read from the ledger and the carts."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Q, Sum

from ..domain import metrics
from ..models import LoyaltyAccount, PointsEntry
from .carts import cart_recovery_summary

if TYPE_CHECKING:
    from datetime import datetime


@dataclass(frozen=True)
class PointsEconomics:
    """Points flows in the period and what is outstanding now (whole points).

    ``issued``: earned on orders; ``adjusted``: net manual adjustments; ``redeemed``,
    ``expired``, ``taken_back``: as positive numbers. ``outstanding``: the channel's
    balances now (a debt counts as negative); ``liability`` values the positive balances
    at ``value_per_point`` (the merchant's valuation, in the channel currency).
    ``redemption_rate`` = redeemed / issued in the period. ``ledger_agrees``: every entry
    ever written adds up to the balances, the same check as ``retention_ledger --verify``.
    """

    issued: int
    adjusted: int
    redeemed: int
    expired: int
    taken_back: int
    outstanding: int
    liability: Decimal
    value_per_point: Decimal
    redemption_rate: Decimal | None
    ledger_agrees: bool


def points_economics(
    channel: str, start: datetime, end: datetime, value_per_point: Decimal = Decimal("0.01")
) -> PointsEconomics:
    entries = PointsEntry.objects.filter(account__channel_slug=channel)
    flows = {
        kind: total or 0
        for kind, total in entries.filter(created_at__gte=start, created_at__lt=end)
        .values_list("kind")
        .annotate(total=Sum("points"))
        .order_by()
    }
    accounts = LoyaltyAccount.objects.filter(channel_slug=channel)
    totals = accounts.aggregate(
        total_balance=Sum("balance"), positive=Sum("balance", filter=Q(balance__gt=0))
    )
    outstanding = totals["total_balance"] or 0
    ever = entries.aggregate(total=Sum("points"))["total"] or 0
    issued = flows.get(PointsEntry.Kind.EARN, 0)
    redeemed = -flows.get(PointsEntry.Kind.REDEEM, 0)
    return PointsEconomics(
        issued=issued,
        adjusted=flows.get(PointsEntry.Kind.ADJUST, 0),
        redeemed=redeemed,
        expired=-flows.get(PointsEntry.Kind.EXPIRE, 0),
        taken_back=-flows.get(PointsEntry.Kind.REVERSE, 0),
        outstanding=outstanding,
        liability=(Decimal(totals["positive"] or 0) * value_per_point).quantize(Decimal("0.01")),
        value_per_point=value_per_point,
        redemption_rate=metrics.share(redeemed, issued),
        ledger_agrees=ever == outstanding,
    )


def cart_recovery(channel: str) -> dict[str, Any]:
    """``carts.cart_recovery_summary`` plus the holdout experiment.

    The experiment is the recovery of reminded carts against held-out carts
    (``domain.metrics.uplift``).
    """
    summary = cart_recovery_summary(channel)
    reminded, holdout = summary["groups"]["reminded"], summary["groups"]["holdout"]
    summary["uplift"] = metrics.uplift(
        reminded["abandoned_carts"],
        reminded["recovered_carts"],
        holdout["abandoned_carts"],
        holdout["recovered_carts"],
    )
    return summary
