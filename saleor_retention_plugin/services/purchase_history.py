"""Write use-cases of the purchase history: record an order, merge a guest, forget a customer.

``record_purchase`` is a reconciliation: it upserts the order row and replaces its lines
(kept as they are when unchanged) in one transaction, so the same order recorded any
number of times, from any event or from a backfill, leaves exactly one row with the order
as it stands now.
``record_purchases`` does the same for a batch with bulk statements (the backfill): one
multi-row statement per table and batch, so the purchase summaries' statement-level
triggers recompute the batch's customers once.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from ..domain.customers import normalise_email
from ..domain.history import InvalidPurchase, PurchaseRecord, customer_key
from ..models import PurchasedLine, PurchasedOrder

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from datetime import datetime

logger = logging.getLogger(__name__)

_ORDER_COLUMNS = [
    "order_id",
    "channel_slug",
    "customer_key",
    "customer_id",
    "email",
    "placed_at",
    "status",
    "counts",
    "currency",
    "net_goods_amount",
    "used_voucher",
    "used_discount",
    "voucher_code",
    "source",
    "recorded_at",
]
_LINE_COLUMNS = [
    "order_id",
    "line_id",
    "variant_id",
    "product_id",
    "product_type_id",
    "category_id",
    "sku",
    "quantity",
    "unit_price_net",
]
_ORDERS = PurchasedOrder._meta.db_table
# An order already re-keyed to a customer (a merged guest) or anonymised keeps its owner:
# a late event carrying the guest's email must not split the customer again. Decided in
# the statement itself (the stored row is locked by the upsert), so no read comes first.
_KEEPS_ITS_OWNER = (
    f"({_ORDERS}.customer_key LIKE 'anonymised:%%' OR ({_ORDERS}.customer_key LIKE "
    "'customer:%%' AND excluded.customer_key LIKE 'email:%%'))"
)
_OWNER_COLUMNS = ("customer_key", "customer_id", "email")
# ON CONFLICT ... DO UPDATE ... RETURNING: PostgreSQL and SQLite 3.35+ alike. One statement
# per batch (``VALUES`` rows for ``%s`` below): the purchase summaries' statement-level
# triggers (migrations 0018, 0026) then recompute a batch's customers once, not per order.
_INSERT_ORDERS = f"INSERT INTO {_ORDERS} ({', '.join(_ORDER_COLUMNS)}) VALUES %s"
_ON_CONFLICT = " ON CONFLICT (order_id) DO UPDATE SET " + ", ".join(
    f"{column} = CASE WHEN {_KEEPS_ITS_OWNER} THEN {_ORDERS}.{column} ELSE excluded.{column} END"
    if column in _OWNER_COLUMNS
    else f"{column} = excluded.{column}"
    for column in _ORDER_COLUMNS[1:]
)
_INSERT_LINES = f"INSERT INTO {PurchasedLine._meta.db_table} ({', '.join(_LINE_COLUMNS)}) VALUES %s"
# A statement's placeholders stay under PostgreSQL's protocol limit (65,535), should the
# connection bind parameters on the server.
_MAX_PARAMETERS = 65_535


def _no_lines() -> str:
    """The upsert's ``RETURNING`` column: true when the order has no lines stored yet.

    On PostgreSQL ``xmax = 0``: the row is new (a concurrent recording of the same order
    waits on the row and is not seen by a subquery's snapshot, so only the row tells).
    SQLite has one writer at a time: the lines themselves are asked.
    """
    if connection.vendor == "postgresql":
        return "(xmax = 0)"
    lines = PurchasedLine._meta.db_table
    return f"NOT EXISTS (SELECT 1 FROM {lines} WHERE {lines}.order_id = {_ORDERS}.id)"


def _stored_lines(order_pks: list[int]) -> dict[int, list[tuple[Any, ...]]]:
    """The lines stored for these orders, as the line insert's rows (one statement)."""
    stored: dict[int, list[tuple[Any, ...]]] = {order_pk: [] for order_pk in order_pks}
    if order_pks:
        for row in PurchasedLine.objects.filter(order_id__in=order_pks).values_list(*_LINE_COLUMNS):
            stored[row[0]].append(row)
    return stored


def _same_lines(stored: list[tuple[Any, ...]], rows: list[tuple[Any, ...]]) -> bool:
    """Whether the stored lines are exactly the rows the insert would write.

    ``rows`` carry their prices as ``Decimal``, not yet adapted for the database.
    A price with more than the column's two places is never the same: the insert would
    round it, and the stored value read back is rounded as well.
    """
    if len(stored) != len(rows):
        return False
    cents = Decimal("0.01")
    if any(row[-1] != row[-1].quantize(cents) for row in rows):
        return False
    return Counter(stored) == Counter(rows)


def _chunks(rows: list[tuple[Any, ...]], columns: list[str]) -> Iterator[list[tuple[Any, ...]]]:
    """``rows`` in as few multi-row statements as the database takes."""
    size = min(connection.ops.bulk_batch_size(columns, rows), _MAX_PARAMETERS // len(columns))
    for start in range(0, len(rows), max(size, 1)):
        yield rows[start : start + size]


def _values(template: str, rows: list[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    """``template`` with one ``(%s, ...)`` group per row, and the rows' values in order."""
    group = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    return template % ", ".join([group] * len(rows)), [value for row in rows for value in row]


def record_purchase(record: PurchaseRecord, *, source: str = "intake") -> PurchasedOrder:
    """Store ``record`` as the order's one row (and its lines); idempotent.

    Raises ``InvalidPurchase`` (nothing written) when the record has problems. An order
    already re-keyed to a customer (a merged guest) or anonymised keeps that key: a late
    event carrying the guest's email must not split the customer again.
    """
    record_purchases([record], source=source)
    return PurchasedOrder.objects.get(order_id=record.order_id)


def record_purchases(
    records: Sequence[PurchaseRecord], *, source: str = "intake", now: datetime | None = None
) -> int:
    """Upsert a batch of orders and replace their lines that changed, in one transaction.

    Raises ``InvalidPurchase`` for the first bad record before writing anything. Returns
    how many orders were written. Orders appearing twice in the batch: the last one wins.
    """
    now = now or timezone.now()
    latest: dict[str, PurchaseRecord] = {}
    for record in records:
        problems = record.problems(now)
        if problems:
            raise InvalidPurchase(f"order {record.order_id or '?'}: " + "; ".join(problems))
        latest[record.order_id] = record
    if not latest:
        return 0
    # No savepoint: nothing below is caught and retried, and the order intake calls this
    # inside its own transaction for every order.
    with transaction.atomic(savepoint=False):
        ops = connection.ops
        order_rows = [
            (
                record.order_id, record.channel_slug, record.customer_key, record.customer_id,
                record.email, ops.adapt_datetimefield_value(record.placed_at), record.status,
                record.counts_as_purchase, record.currency,
                ops.adapt_decimalfield_value(record.net_goods_amount, 14, 2),
                record.used_voucher, record.used_discount, record.voucher_code, source,
                ops.adapt_datetimefield_value(now),
            )
            for record in latest.values()
        ]  # fmt: skip
        # Raw statements: the ORM's bulk_create spends most of a backfill compiling SQL.
        # ``_no_lines()``: the order has no stored lines yet (a new row): none are read.
        ids: dict[str, int] = {}
        stored: list[int] = []
        with connection.cursor() as cursor:
            for chunk in _chunks(order_rows, _ORDER_COLUMNS):
                sql, params = _values(_INSERT_ORDERS, chunk)
                cursor.execute(
                    sql + _ON_CONFLICT + f" RETURNING order_id, id, {_no_lines()}", params
                )
                for order_id, order_pk, no_lines in cursor.fetchall():
                    ids[order_id] = order_pk
                    if not no_lines:
                        stored.append(order_pk)
        line_rows = {
            ids[record.order_id]: [
                (
                    ids[record.order_id], line.line_id, line.variant_id, line.product_id,
                    line.product_type_id, line.category_id, line.sku, line.quantity,
                    line.unit_price_net,
                )
                for line in record.lines
            ]
            for record in latest.values()
        }  # fmt: skip
        # An order recorded again keeps its lines when they are what it would write (most
        # events change the order's status or amounts, not its lines): one read instead of
        # a delete and an insert, and on PostgreSQL no recomputation of the customers'
        # kinds by the lines' triggers.
        replaced = [
            order_pk
            for order_pk, lines in _stored_lines(stored).items()
            if not _same_lines(lines, line_rows[order_pk])
        ]
        if replaced:
            PurchasedLine.objects.filter(order_id__in=replaced).delete()
        unchanged = set(stored) - set(replaced)
        rows = [
            (*row[:-1], ops.adapt_decimalfield_value(row[-1], 14, 2))
            for order_pk, lines in line_rows.items()
            if order_pk not in unchanged
            for row in lines
        ]
        if rows:
            with connection.cursor() as cursor:
                for chunk in _chunks(rows, _LINE_COLUMNS):
                    cursor.execute(*_values(_INSERT_LINES, chunk))
    return len(latest)


def merge_guest_purchases(customer_id: int, email: str | None) -> int:
    """Re-key a guest email's orders to the customer, in every channel; returns how many.

    Call it exactly where the ledger merges guest accounts (``ledger.merge_guest_accounts``
    and an order with a verified email), inside the same transaction, so purchase
    history and points agree on who the customer is. Calling it again changes nothing.
    """
    normalised = normalise_email(email)
    if normalised is None:
        return 0
    moved = PurchasedOrder.objects.filter(customer_key=customer_key(None, normalised)).update(
        customer_key=customer_key(customer_id, None),
        customer_id=customer_id,
        recorded_at=timezone.now(),  # the lifecycle refreshes re-plan re-keyed orders
    )
    if moved:
        logger.info("Re-keyed %s guest orders of an email to customer %s", moved, customer_id)
    return moved


def anonymise_purchases(customer_id: int, email: str | None = None) -> int:
    """Forget who placed the customer's orders; keep amounts, dates and lines for totals.

    The customer's orders (and guest orders under their email) get one random key
    ``anonymised:<uuid>``, so they still count as one customer's repeat orders, and lose
    the customer id, email and voucher code. Returns how many orders were anonymised;
    calling it again changes nothing.
    """
    normalised = normalise_email(email)
    personal = Q(customer_id=customer_id)
    if normalised:
        personal |= Q(customer_id__isnull=True, email=normalised)
    with transaction.atomic():
        return PurchasedOrder.objects.filter(personal).update(
            customer_key=f"anonymised:{uuid.uuid4().hex}",
            customer_id=None,
            email=None,
            voucher_code=None,
            recorded_at=timezone.now(),  # the lifecycle refreshes drop the old key's rows
        )
