"""Checking the cached balances against the append-only entries, and repairing them.

The same for the kept month totals of qualifying orders (``QualifyingMonth``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from ..models import LoyaltyAccount, PointsEntry, PointsLot, QualifyingMonth, QualifyingOrder

if TYPE_CHECKING:
    from decimal import Decimal


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


@dataclass(frozen=True)
class MonthDrift:
    """One account's month whose kept totals differ from its qualifying orders.

    ``kept`` and ``orders_say`` are (orders, points, amount); a missing row counts as zeros.
    """

    account_id: int
    month: str  # YYYY-MM, UTC
    kept: tuple[int, int, Decimal]
    orders_say: tuple[int, int, Decimal]


_MONTHS = QualifyingMonth._meta.db_table
_ORDERS = QualifyingOrder._meta.db_table
_MONTH_OF = "date_trunc('month', placed_at AT TIME ZONE 'UTC')::date"
_SAID = (
    f"SELECT account_id, {_MONTH_OF} AS month, count(*) AS orders, "
    f"sum(points_earned) AS points_earned, sum(amount_spent) AS amount_spent FROM {_ORDERS}"
)


def find_month_drift() -> list[MonthDrift]:
    """Months whose kept totals disagree with the qualifying orders (one query).

    Only PostgreSQL keeps month totals (its triggers); elsewhere there is nothing to check.
    """
    if connection.vendor != "postgresql":
        return []
    zero = "COALESCE({}, 0)"
    kept = ", ".join(zero.format(f"k.{c}") for c in ("orders", "points_earned", "amount_spent"))
    said = ", ".join(zero.format(f"s.{c}") for c in ("orders", "points_earned", "amount_spent"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH said AS ({_SAID} GROUP BY 1, 2)
                SELECT COALESCE(k.account_id, s.account_id), COALESCE(k.month, s.month),
                       {kept}, {said}
                FROM {_MONTHS} k FULL OUTER JOIN said s
                    ON k.account_id = s.account_id AND k.month = s.month
                WHERE ({kept}) IS DISTINCT FROM ({said})
                ORDER BY 1, 2"""
        )
        return [
            MonthDrift(row[0], f"{row[1]:%Y-%m}", tuple(row[2:5]), tuple(row[5:8]))
            for row in cursor.fetchall()
        ]


def rebuild_kept_months(account_ids: list[int]) -> int:
    """Recompute the month totals of these accounts from their qualifying orders.

    Each under the account's lock (an order's intake writes its qualifying order under the
    same lock). Returns how many accounts were rebuilt; nothing to do off PostgreSQL.
    """
    if connection.vendor != "postgresql":
        return 0
    for account_id in account_ids:
        with transaction.atomic(), connection.cursor() as cursor:
            LoyaltyAccount.objects.select_for_update().filter(pk=account_id).exists()
            cursor.execute(f"DELETE FROM {_MONTHS} WHERE account_id = %s", [account_id])
            cursor.execute(
                f"""INSERT INTO {_MONTHS} (account_id, month, orders, points_earned,
                       amount_spent)
                    {_SAID} WHERE account_id = %s GROUP BY 1, 2""",
                [account_id],
            )
    return len(account_ids)
