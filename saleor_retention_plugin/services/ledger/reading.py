"""Reading an account's points: balance, spendable, pending, expiring soon."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from ...models import LoyaltyAccount, PointsLot

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExpiringPoints:
    points: int
    expires_at: datetime


@dataclass(frozen=True)
class AccountSummary:
    account_id: int
    balance: int
    spendable: int
    pending: int
    lifetime_earned: int
    expiring_soon: tuple[ExpiringPoints, ...]


def summarise_account(
    account: LoyaltyAccount, *, now: datetime | None = None, expiring_within_days: int = 30
) -> AccountSummary:
    """Balance, spendable, pending and soon-expiring points: one query over open lots."""
    now = now or timezone.now()
    lots = list(
        PointsLot.objects.filter(account=account)
        .open()
        .values_list("remaining", "available_at", "expires_at")
    )
    live = [lot for lot in lots if lot[2] is None or lot[2] > now]
    pending = sum(remaining for remaining, available_at, _ in live if available_at > now)
    horizon = now + timedelta(days=expiring_within_days)
    expiring: dict[datetime, int] = {}
    for remaining, _, expires_at in live:
        if expires_at is not None and expires_at <= horizon:
            expiring[expires_at] = expiring.get(expires_at, 0) + remaining
    spendable = account.balance - pending - sum(r for r, _, e in lots if e is not None and e <= now)
    return AccountSummary(
        account_id=account.pk,
        balance=account.balance,
        spendable=spendable,
        pending=pending,
        lifetime_earned=account.lifetime_earned,
        expiring_soon=tuple(
            ExpiringPoints(points, moment) for moment, points in sorted(expiring.items())
        ),
    )
