"""Reading an account's points: balance, spendable, pending, expiring soon."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db.models import (
    Case,
    DateTimeField,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from ...models import LoyaltyAccount, PointsLot

if TYPE_CHECKING:
    from django.db.models import QuerySet

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
    """Balance, spendable, pending and soon-expiring points: one aggregate query.

    Only the open lots that make a difference are read: those still pending and those
    expired or expiring within ``expiring_within_days``, found by two partial indexes on
    the account's open lots (by expiry, by availability). Every other open lot is
    spendable, and the open lots add up to the balance, so spendable is the balance less
    the pending and the expired: a customer keeping 10,000 open lots (issue 12) costs
    what one keeping ten does. The lots read are summed in the database, one row per
    soon-expiring moment.
    """
    now = now or timezone.now()
    horizon = now + timedelta(days=expiring_within_days)
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    rows = (
        PointsLot.objects.filter(account=account)
        .open()
        .filter(Q(expires_at__lte=horizon) | Q(available_at__gt=now))
        .annotate(
            expiring_at=Case(
                When(expires_at__gt=now, expires_at__lte=horizon, then=F("expires_at")),
                default=None,
                output_field=DateTimeField(),
            )
        )
        .values("expiring_at")
        .annotate(
            expiring=Sum("remaining"),
            pending=Sum("remaining", filter=live & Q(available_at__gt=now)),
            expired=Sum("remaining", filter=Q(expires_at__lte=now)),
        )
        .order_by()
        .values_list("expiring_at", "expiring", "pending", "expired")
    )
    pending = expired = 0
    expiring: list[ExpiringPoints] = []
    for moment, points, pending_here, expired_here in rows:
        pending += pending_here or 0
        expired += expired_here or 0
        if moment is not None:
            expiring.append(ExpiringPoints(points, moment))
    return _summary(account, pending, expired, sorted(expiring, key=lambda item: item.expires_at))


def with_points_in_lots(
    accounts: QuerySet[LoyaltyAccount], now: datetime | None = None
) -> QuerySet[LoyaltyAccount]:
    """``accounts`` annotated for ``summary_from_lots``, in the same query.

    ``points_pending``: points of open lots not yet available (and not expired);
    ``points_expired``: points of open lots past their expiry, not yet swept.
    """
    now = now or timezone.now()
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    lots = PointsLot.objects.filter(account=OuterRef("pk")).open().order_by().values("account")

    def total(condition: Q) -> Coalesce:
        summed = lots.filter(condition).annotate(total=Sum("remaining")).values("total")
        return Coalesce(Subquery(summed, output_field=IntegerField()), 0)

    return accounts.annotate(
        points_pending=total(live & Q(available_at__gt=now)),
        points_expired=total(Q(expires_at__lte=now)),
    )


def summary_from_lots(account: LoyaltyAccount) -> AccountSummary:
    """The summary of an account read ``with_points_in_lots``: no query.

    Nothing is listed as expiring soon.
    """
    pending: int = account.points_pending  # type: ignore[attr-defined]
    expired: int = account.points_expired  # type: ignore[attr-defined]
    return _summary(account, pending, expired, [])


def _summary(
    account: LoyaltyAccount, pending: int, expired: int, expiring: list[ExpiringPoints]
) -> AccountSummary:
    return AccountSummary(
        account_id=account.pk,
        balance=account.balance,
        spendable=account.balance - pending - expired,
        pending=pending,
        lifetime_earned=account.lifetime_earned,
        expiring_soon=tuple(expiring),
    )
