"""What an account's tier is measured by, and the record of each change of tier.

Shared by the catalogue (removing a tier moves its members) and the evaluation.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import DecimalField, Min, Q, Sum, Value
from django.db.models.functions import Coalesce

from ... import signals
from ...domain import tiers as rules
from ...models import (
    LoyaltyAccount,
    MembershipTier,
    QualifyingMonth,
    QualifyingOrder,
    TierChange,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = logging.getLogger(__name__)

# Per window the ladder uses (months, 0 lifetime): the totals, and the oldest order counted.
Activity = tuple[dict[int, rules.Totals], dict[int, datetime | None]]


def _totals(
    account_id: int, ladder: list[rules.TierRule], now: datetime
) -> dict[int, rules.Totals]:
    """Points earned and amount spent per window the ladder uses: one aggregate query.

    On PostgreSQL read from the kept month totals (``QualifyingMonth``), so the cost
    follows the months of the window, not the account's orders; elsewhere summed from
    the orders. Both are exact.
    """
    if connection.vendor == "postgresql":
        return _kept_activity(account_id, ladder, now, earliest=False)[0]
    return _summed_activity(account_id, ladder, now)[0]


_ORDERS = QualifyingOrder._meta.db_table
_MONTHS = QualifyingMonth._meta.db_table
# The account and the guest accounts merged into it (primary key and merged_into indexes).
_OWNED = f"SELECT id FROM {LoyaltyAccount._meta.db_table} WHERE id = %s OR merged_into_id = %s"


def _kept_activity(
    account_id: int, ladder: list[rules.TierRule], now: datetime, *, earliest: bool
) -> tuple[dict[int, rules.Totals], dict[int, datetime | None]]:
    """``_activity`` from the kept month totals: one statement (the oldest counted order
    of each window only when ``earliest``; the dict is empty otherwise).

    A window from ``start`` to ``now`` is every kept month from the one after ``start``'s
    on, plus the orders of ``start``'s own month placed from ``start`` on (the partial
    edge, read by the (account, placed_at) index), less the orders placed after ``now``
    (normally none; read by the same index). A lifetime window is every kept month less
    the orders after ``now``.
    """
    windows, select, params = _kept_activity_query(account_id, ladder, now, earliest=earliest)
    if not windows:
        return {}, {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {select}", params)
        row = cursor.fetchone()
    return _kept_activity_row(windows, row, earliest=earliest)


def _kept_activity_query(
    account_id: int, ladder: list[rules.TierRule], now: datetime, *, earliest: bool
) -> tuple[list[int], str, list[Any]]:
    """``_kept_activity``'s windows (months, ascending), select list and parameters."""
    windows = sorted({rule.window_months for rule in ladder})
    columns: list[str] = []
    params: list[Any] = []
    # The owned ids are computed once, as an array (an InitPlan), then matched by the
    # (account, placed_at) and (account, month) indexes. As ``IN (subquery)`` a planner
    # whose statistics still say the tables are empty (a new shop, before autovacuum
    # analyses them) joined every order against a scan of the accounts: a cost that
    # grew with the whole shop's orders.
    owned = f"account_id = ANY(ARRAY({_OWNED}))"
    ops = connection.ops
    for months in windows:
        start = rules.window_start(now, months)
        for field in ("points_earned", "amount_spent"):
            if start is None:
                columns.append(f"(SELECT COALESCE(SUM({field}), 0) FROM {_MONTHS} WHERE {owned})")
                params += [account_id, account_id]
            else:
                following = _next_month_utc(start)
                columns.append(
                    f"(SELECT COALESCE(SUM({field}), 0) FROM {_MONTHS} WHERE {owned} "
                    "AND month >= %s) + "
                    f"(SELECT COALESCE(SUM({field}), 0) FROM {_ORDERS} WHERE {owned} "
                    "AND placed_at >= %s AND placed_at < %s AND placed_at <= %s)"
                )
                params += [account_id, account_id, following.date()]
                params += [account_id, account_id]
                params += [ops.adapt_datetimefield_value(moment) for moment in (start, following)]
                params.append(ops.adapt_datetimefield_value(now))
            # Orders placed after now are in their month's kept total but not in any window.
            columns[-1] += (
                f" - (SELECT COALESCE(SUM({field}), 0) FROM {_ORDERS} WHERE {owned} "
                "AND placed_at > %s" + (" AND placed_at >= %s)" if start is not None else ")")
            )
            params += [account_id, account_id, ops.adapt_datetimefield_value(now)]
            if start is not None:
                params.append(ops.adapt_datetimefield_value(_next_month_utc(start)))
    if earliest:
        # Orders that count for nothing (cancelled, refunded in full) never need a visit.
        for months in windows:
            start = rules.window_start(now, months)
            columns.append(
                f"(SELECT MIN(placed_at) FROM {_ORDERS} WHERE {owned} AND placed_at <= %s "
                + ("AND placed_at >= %s " if start is not None else "")
                + "AND (points_earned > 0 OR amount_spent > 0))"
            )
            params += [account_id, account_id, ops.adapt_datetimefield_value(now)]
            if start is not None:
                params.append(ops.adapt_datetimefield_value(start))
    return windows, ", ".join(columns), params


def _kept_activity_row(
    windows: list[int], row: Any, *, earliest: bool
) -> tuple[dict[int, rules.Totals], dict[int, datetime | None]]:
    totals = {
        months: rules.Totals(int(row[2 * index]), Decimal(row[2 * index + 1]))
        for index, months in enumerate(windows)
    }
    first = row[2 * len(windows) :]
    return totals, (dict(zip(windows, first, strict=True)) if earliest else {})


def insert_order_reading_activity(
    insert: tuple[str, list[Any]],
    order: QualifyingOrder,
    ladder: list[rules.TierRule],
    now: datetime,
) -> Activity | None:
    """Run ``insert`` (an ``INSERT ... RETURNING id`` of ``order``, unsaved, into its
    account's qualifying orders) and read that account's ``_activity`` in the same
    statement (PostgreSQL only, a non-empty ``ladder``). None when nothing was inserted.

    The statement's read sees the tables as they were before it (the inserted row, and
    the month total its trigger keeps after the statement, are not visible to it): the
    new order's points and amount, and its date for the oldest counted order, are added
    to each window it falls in here, the same rule the queries apply.
    """
    windows, select, params = _kept_activity_query(order.account_id, ladder, now, earliest=True)
    sql, insert_params = insert
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH inserted AS ({sql}) SELECT (SELECT id FROM inserted), {select}",
            insert_params + params,
        )
        row = cursor.fetchone()
    if row[0] is None:
        return None
    totals, earliest = _kept_activity_row(windows, row[1:], earliest=True)
    placed = order.placed_at
    counts = order.points_earned > 0 or order.amount_spent > 0
    for months in windows:
        start = rules.window_start(now, months)
        if placed > now or (start is not None and placed < start):
            continue
        before = totals[months]
        totals[months] = rules.Totals(
            before.points_earned + order.points_earned, before.amount_spent + order.amount_spent
        )
        oldest = earliest[months]
        if counts and (oldest is None or placed < oldest):
            earliest[months] = placed
    return totals, earliest


def _next_month_utc(moment: datetime) -> datetime:
    """The first instant of the UTC calendar month after ``moment``'s."""
    utc = moment.astimezone(UTC)
    year, month = (utc.year + 1, 1) if utc.month == 12 else (utc.year, utc.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def _activity(
    account_id: int, ladder: list[rules.TierRule], now: datetime
) -> tuple[dict[int, rules.Totals], dict[int, datetime | None]]:
    """Per window the ladder uses: the totals, and the oldest order still counted (when
    it leaves, the account needs evaluating again). One query: from the kept month
    totals on PostgreSQL, summed from the orders elsewhere."""
    if connection.vendor == "postgresql":
        return _kept_activity(account_id, ladder, now, earliest=True)
    return _summed_activity(account_id, ladder, now)


def _summed_activity(
    account_id: int, ladder: list[rules.TierRule], now: datetime
) -> tuple[dict[int, rules.Totals], dict[int, datetime | None]]:
    """``_activity`` summed from the account's qualifying orders: one aggregate query."""
    windows = sorted({rule.window_months for rule in ladder})
    if not windows:
        return {}, {}
    aggregates: dict[str, Any] = {}
    money: DecimalField = DecimalField(max_digits=16, decimal_places=2)
    for months in windows:
        start = rules.window_start(now, months)
        condition = Q(placed_at__lte=now) & (Q() if start is None else Q(placed_at__gte=start))
        aggregates[f"points_{months}"] = Coalesce(Sum("points_earned", filter=condition), 0)
        aggregates[f"amount_{months}"] = Coalesce(
            Sum("amount_spent", filter=condition), Value(Decimal(0)), output_field=money
        )
        # Orders that count for nothing (cancelled, refunded in full) never need a visit.
        counting = condition & (Q(points_earned__gt=0) | Q(amount_spent__gt=0))
        aggregates[f"earliest_{months}"] = Min("placed_at", filter=counting)
    # A guest account merged into this one brings the orders recorded before the merge.
    # The accounts first (primary key and merged_into indexes), then their orders by the
    # (account, placed_at) index: an OR across the join would scan every qualifying order
    # of the shop (issue 12).
    owned = LoyaltyAccount.objects.filter(Q(pk=account_id) | Q(merged_into_id=account_id))
    row = QualifyingOrder.objects.filter(account_id__in=owned.values("pk")).aggregate(**aggregates)
    totals = {
        months: rules.Totals(int(row[f"points_{months}"]), Decimal(row[f"amount_{months}"]))
        for months in windows
    }
    return totals, {months: row[f"earliest_{months}"] for months in windows}


def _record_change(
    account_id: int,
    from_tier: MembershipTier | None,
    to_tier: MembershipTier,
    reason: str,
    value: Decimal | None,
    now: datetime,
    details: Mapping[str, Any] | None = None,
    *,
    account: LoyaltyAccount | None = None,
) -> TierChange:
    """Record the change and announce it after commit; ``account``, when the caller has
    the row, saves reading the customer id again."""
    change = TierChange.objects.create(
        account_id=account_id,
        from_tier=from_tier,
        to_tier=to_tier,
        from_code=from_tier.code if from_tier else "",
        to_code=to_tier.code,
        reason=reason,
        qualifying_value=value,
        details=dict(details or {}),
        changed_at=now,
    )
    signals.send_after_commit(
        signals.tier_changed,
        account_id=account_id,
        channel_slug=to_tier.channel_slug,
        customer_id=(
            account.customer_id
            if account is not None
            else LoyaltyAccount.objects.filter(pk=account_id)
            .values_list("customer_id", flat=True)
            .first()
        ),
        change_id=change.pk,
        from_tier=change.from_code,
        to_tier=change.to_code,
        reason=reason,
    )
    return change
