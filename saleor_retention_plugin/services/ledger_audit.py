"""Checking the cached balances against the append-only entries, and repairing them."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from ..models import LoyaltyAccount, PointsEntry, PointsLot


@dataclass(frozen=True)
class BalanceDrift:
    account_id: int
    cached_balance: int
    entries_balance: int
    cached_lifetime_earned: int
    entries_lifetime_earned: int
    open_lot_points: int

    @property
    def cached_totals_disagree(self) -> bool:
        """The cached balance or lifetime earned differ from the entries (--rebuild fixes it)."""
        return (self.cached_balance, self.cached_lifetime_earned) != (
            self.entries_balance,
            self.entries_lifetime_earned,
        )

    @property
    def lots_disagree(self) -> bool:
        return self.open_lot_points != max(self.entries_balance, 0)


def find_balance_drift() -> list[BalanceDrift]:
    """Accounts whose cached totals or open lots disagree with their entries (one query)."""

    def total(model: type, field: str, **filters: object) -> Coalesce:
        subquery = (
            model.objects.filter(account=OuterRef("pk"), **filters)  # type: ignore[attr-defined]
            .order_by()
            .values("account")
            .annotate(total=Sum(field))
            .values("total")
        )
        return Coalesce(Subquery(subquery), 0)

    rows = LoyaltyAccount.objects.annotate(
        entries_balance=total(PointsEntry, "points"),
        entries_lifetime=total(PointsEntry, "points", kind=PointsEntry.Kind.EARN)
        + total(PointsEntry, "points", kind=PointsEntry.Kind.REVERSE)
        - total(PointsEntry, "written_off", kind=PointsEntry.Kind.REVERSE),
        open_lots=total(PointsLot, "remaining"),
    ).values_list(
        "pk", "balance", "entries_balance", "lifetime_earned", "entries_lifetime", "open_lots"
    )
    drift = []
    for pk, balance, entries_balance, lifetime, entries_lifetime, open_lots in rows:
        found = BalanceDrift(pk, balance, entries_balance, lifetime, entries_lifetime, open_lots)
        if found.cached_totals_disagree or found.lots_disagree:
            drift.append(found)
    return drift


def lifetime_points_of(entries: QuerySet[PointsEntry]) -> int:
    """Points earned from orders net of what orders took back (written-off included)."""
    row = entries.aggregate(
        earned=Coalesce(Sum("points", filter=Q(kind=PointsEntry.Kind.EARN)), 0),
        reversed=Coalesce(Sum("points", filter=Q(kind=PointsEntry.Kind.REVERSE)), 0),
        written_off=Coalesce(Sum("written_off", filter=Q(kind=PointsEntry.Kind.REVERSE)), 0),
    )
    return max(int(row["earned"]) + int(row["reversed"]) - int(row["written_off"]), 0)


def rebuild_cached_balances(account_ids: list[int]) -> int:
    """Set each account's cached totals to what its entries say; returns accounts fixed.

    Lots are not rebuilt: which lot a past spend consumed is history the entries do not
    record, so disagreeing lots are reported for a person to look at instead.
    """
    fixed = 0
    for account_id in account_ids:
        with transaction.atomic():
            account = LoyaltyAccount.objects.select_for_update().get(pk=account_id)
            entries = PointsEntry.objects.filter(account=account)
            balance = entries.total_points()
            lifetime = lifetime_points_of(entries)
            if (account.balance, account.lifetime_earned) != (balance, lifetime):
                account.balance, account.lifetime_earned = balance, lifetime
                account.save(update_fields=["balance", "lifetime_earned", "updated_at"])
                fixed += 1
    return fixed
