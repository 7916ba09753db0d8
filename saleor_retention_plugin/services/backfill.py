"""Backfill the purchase history from a shop's past orders: a file, or Saleor's own tables.

The source yields ``SourceRow`` items in a stable order; consecutive rows of one order
(one line per row) are grouped into one ``PurchaseRecord``. Every ``batch_size`` orders
the batch is written with bulk statements together with the checkpoint, in one
transaction: an interruption loses at most the batch in flight, and resuming starts
right after the last batch written. Records are reconciled (upserted), so running the
same source twice changes nothing. Memory holds one batch, whatever the source's size.

A bad row (unknown currency, negative amount, missing id, future date, malformed line)
is counted, reported with its line number and skipped with the rest of its order: an
order is written whole or not at all.

File formats are documented in docs/backfill.md.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..conf import LedgerSettings
from ..domain.earning import points_for_amount
from ..domain.history import PurchaseLine, PurchaseRecord, SourceRow
from ..domain.orders import OrderSnapshot
from ..models import BackfillCheckpoint
from . import ledger
from .purchase_history import record_purchases

logger = logging.getLogger(__name__)

ORDER_FIELDS = (
    "order_id",
    "channel",
    "customer_id",
    "email",
    "placed_at",
    "status",
    "currency",
    "net_goods_amount",
    "used_voucher",
    "used_discount",
    "voucher_code",
)
LINE_FIELDS = (
    "line_id",
    "variant_id",
    "product_id",
    "product_type_id",
    "category_id",
    "sku",
    "quantity",
    "unit_price_net",
)
MAX_REPORTED_PROBLEMS = 1000


class BackfillError(Exception):
    """The backfill cannot start (unreadable file, unknown format); nothing was written."""


@dataclass
class BackfillFilters:
    channel: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def describe(self) -> str:
        return f"channel={self.channel or '*'}|since={self.since}|until={self.until}"

    def keep(self, record: PurchaseRecord) -> bool:
        if self.channel and record.channel_slug != self.channel:
            return False
        if self.since and record.placed_at < self.since:
            return False
        return not (self.until and record.placed_at >= self.until)


@dataclass
class BackfillReport:
    """What a run did. ``problems`` holds (line number, message), the first 1000."""

    source: str
    rows_read: int = 0
    orders_imported: int = 0
    orders_filtered_out: int = 0
    orders_skipped: int = 0
    resumed_from: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)
    points_by_customer: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def points_total(self) -> int:
        return sum(self.points_by_customer.values())

    def count_points(self, record: PurchaseRecord, points: int) -> None:
        if points:
            who = (record.channel_slug, record.customer_key)
            self.points_by_customer[who] = self.points_by_customer.get(who, 0) + points

    def note_problem(self, line_number: int, message: str) -> None:
        self.orders_skipped += 1
        if len(self.problems) < MAX_REPORTED_PROBLEMS:
            self.problems.append((line_number, message))


# --- sources ------------------------------------------------------------------------------


def file_rows(path: str) -> Iterator[SourceRow]:
    """Rows of a JSON-lines (``.jsonl``, ``.ndjson``, ``.json``) or ``.csv`` file, streamed.

    Raises ``BackfillError`` for a missing file or another extension. A JSON line that
    does not parse is yielded as ``{"__error__": message}`` so it is reported, not fatal.
    """
    if not os.path.isfile(path):
        raise BackfillError(f"No such file: {path}")
    extension = os.path.splitext(path)[1].lower()
    if extension in {".jsonl", ".ndjson", ".json"}:
        return _json_rows(path)
    if extension == ".csv":
        return _csv_rows(path)
    raise BackfillError(f"Unknown file format {extension!r}: use .jsonl or .csv")


def _json_rows(path: str) -> Iterator[SourceRow]:
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                values = json.loads(text)
            except json.JSONDecodeError as error:
                values = {"__error__": f"not valid JSON ({error.msg})"}
            if not isinstance(values, dict):
                values = {"__error__": "not a JSON object"}
            yield SourceRow(number, values)


def _csv_rows(path: str) -> Iterator[SourceRow]:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for values in reader:
            # The header is line 1; a row's number is where it ends (quoted newlines).
            yield SourceRow(reader.line_num, {k: v for k, v in values.items() if k is not None})


def count_rows(path: str) -> int:
    """Physical lines of the file (minus a CSV header): the progress bar's total."""
    with open(path, "rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return max(lines - (1 if path.lower().endswith(".csv") else 0), 0)


# --- rows -> records ----------------------------------------------------------------------


def group_orders(rows: Iterable[SourceRow]) -> Iterator[tuple[int, int, PurchaseRecord | str]]:
    """``(first line, last line, record or problem)`` per order.

    Consecutive rows with the same ``order_id`` are one order's lines (the first row's
    order fields count).
    """
    pending: list[SourceRow] = []
    for row in rows:
        if pending and row.values.get("order_id") != pending[0].values.get("order_id"):
            yield _finish(pending)
            pending = []
        pending.append(row)
        if "__error__" in row.values or not row.values.get("order_id"):
            yield _finish(pending)
            pending = []
    if pending:
        yield _finish(pending)


def _finish(rows: list[SourceRow]) -> tuple[int, int, PurchaseRecord | str]:
    first, last = rows[0].line_number, rows[-1].line_number
    try:
        return first, last, record_from_rows([row.values for row in rows])
    except (KeyError, ValueError, TypeError, InvalidOperation) as error:
        message = error.args[0] if error.args else str(error)
        if isinstance(error, KeyError):
            message = f"missing {error.args[0]}"
        return first, last, str(message)


def record_from_rows(rows: list[dict[str, Any]]) -> PurchaseRecord:
    """One order from its rows; raises ``ValueError`` (or ``KeyError``) naming the field."""
    head = rows[0]
    if "__error__" in head:
        raise ValueError(head["__error__"])
    order_id = _text(head.get("order_id"))
    if not order_id:
        raise ValueError("missing order_id")
    lines: list[PurchaseLine] = []
    for values in rows:
        nested = values.get("lines")
        if isinstance(nested, str) and nested.strip():
            nested = json.loads(nested)
        for line in nested or ():
            if not isinstance(line, dict):
                raise ValueError("malformed order line: not an object")
            lines.append(_line(line))
        if _text(values.get("line_id")):
            lines.append(_line(values))
    amount = values_amount = _decimal(head, "net_goods_amount", required=False)
    if values_amount is None:
        if not lines:
            raise ValueError("missing net_goods_amount")
        amount = sum((line.total_net for line in lines), Decimal(0))
    assert amount is not None
    customer = _text(head.get("customer_id"))
    return PurchaseRecord(
        order_id=order_id,
        channel_slug=_text(head.get("channel")) or "",
        currency=(_text(head.get("currency")) or "").upper(),
        placed_at=_moment(head.get("placed_at")),
        status=_text(head.get("status")) or "fulfilled",
        net_goods_amount=amount,
        customer_id=int(customer) if customer else None,
        email=_text(head.get("email")),
        used_voucher=_flag(head.get("used_voucher")) or bool(_text(head.get("voucher_code"))),
        used_discount=_flag(head.get("used_discount")) or bool(_text(head.get("voucher_code"))),
        voucher_code=_text(head.get("voucher_code")),
        lines=tuple(lines),
    )


def _line(values: dict[str, Any]) -> PurchaseLine:
    line_id = _text(values.get("line_id"))
    if not line_id:
        raise ValueError("malformed order line: missing line_id")
    try:
        quantity = int(str(values.get("quantity", "")).strip())
    except ValueError:
        raise ValueError(
            f"malformed order line {line_id}: quantity is not a whole number"
        ) from None
    price = _decimal(values, "unit_price_net", required=True)
    assert price is not None
    return PurchaseLine(
        line_id=line_id,
        quantity=quantity,
        unit_price_net=price,
        variant_id=_text(values.get("variant_id")),
        product_id=_text(values.get("product_id")),
        product_type_id=_text(values.get("product_type_id")),
        category_id=_text(values.get("category_id")),
        sku=_text(values.get("sku")),
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes"}


def _decimal(values: dict[str, Any], name: str, *, required: bool) -> Decimal | None:
    raw = _text(values.get(name))
    if raw is None:
        if required:
            raise ValueError(f"missing {name}")
        return None
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{name} is not a number: {raw!r}") from None
    if not amount.is_finite():
        raise ValueError(f"{name} is not a number: {raw!r}")
    return amount


def _moment(value: Any) -> datetime:
    raw = _text(value)
    if raw is None:
        raise ValueError("missing placed_at")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"placed_at is not an ISO 8601 date: {raw!r}") from None
    # A plain date or a time without an offset is read in UTC (documented).
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- the run ------------------------------------------------------------------------------


Progress = Callable[[int, BackfillReport], None]


def run_backfill(
    source: str,
    rows: Iterable[SourceRow],
    *,
    filters: BackfillFilters | None = None,
    batch_size: int = 1000,
    dry_run: bool = False,
    credit_points: bool = False,
    ledger_settings_for: Callable[[str], LedgerSettings] | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> BackfillReport:
    """Import ``rows`` into the purchase history, resuming after the checkpoint of ``source``.

    ``progress(rows_done, report)`` is called after each batch. With ``dry_run`` nothing is
    written (not even the checkpoint) and the points that would be credited are counted.
    With ``credit_points`` each imported order earns through the ledger's own earning
    (``ledger.sync_order_points``, idempotent per order) under ``ledger_settings_for(channel)``.
    """
    filters = filters or BackfillFilters()
    now = now or timezone.now()
    settings_for = ledger_settings_for or (lambda channel: LedgerSettings())
    key = f"{source}|{filters.describe()}"[:500]
    checkpoint = None if dry_run else BackfillCheckpoint.objects.filter(source=key).first()
    start = checkpoint.position if checkpoint else 0
    report = BackfillReport(source=key, resumed_from=start)
    batch: list[PurchaseRecord] = []
    last_line = start

    def flush() -> None:
        nonlocal batch
        if not dry_run:
            with transaction.atomic():
                record_purchases(batch, source=source[:64], now=now)
                if credit_points:
                    for record in batch:
                        earned = _credit(record, settings_for(record.channel_slug), now)
                        report.count_points(record, earned)
                BackfillCheckpoint.objects.update_or_create(
                    source=key,
                    defaults={
                        "position": last_line,
                        "imported": (checkpoint.imported if checkpoint else 0)
                        + report.orders_imported
                        + len(batch),
                        "skipped": (checkpoint.skipped if checkpoint else 0)
                        + report.orders_skipped,
                    },
                )
        elif credit_points:
            for record in batch:
                report.count_points(record, _points(record, settings_for(record.channel_slug)))
        report.orders_imported += len(batch)
        batch = []
        if progress:
            progress(last_line, report)

    def after_checkpoint(all_rows: Iterable[SourceRow]) -> Iterator[SourceRow]:
        for row in all_rows:
            report.rows_read += 1
            if row.line_number > start:
                yield row

    for _first, last, outcome in group_orders(after_checkpoint(rows)):
        last_line = last
        if isinstance(outcome, str):
            report.note_problem(_first, outcome)
            continue
        problems = outcome.problems(now)
        if problems:
            report.note_problem(_first, "; ".join(problems))
            continue
        if not filters.keep(outcome):
            report.orders_filtered_out += 1
            continue
        batch.append(outcome)
        if len(batch) >= batch_size:
            flush()
    flush()
    if not dry_run:
        BackfillCheckpoint.objects.filter(source=key).update(finished_at=now, position=last_line)
    return report


def _snapshot(record: PurchaseRecord) -> OrderSnapshot:
    return OrderSnapshot(
        order_id=record.order_id,
        number="",
        channel_slug=record.channel_slug,
        channel_currency=record.currency,
        currency=record.currency,
        customer_id=record.customer_id,
        email=record.email,
        status=record.status,
        is_fully_paid=True,
        points_base_amount=record.net_goods_amount,
        total_amount=record.net_goods_amount,
        refunded_amount=Decimal(0),
        created_at=record.placed_at,
    )


def _points(record: PurchaseRecord, settings: LedgerSettings) -> int:
    if not record.counts_as_purchase:
        return 0
    return points_for_amount(record.net_goods_amount, settings.points_per_currency_unit)


def _credit(record: PurchaseRecord, settings: LedgerSettings, now: datetime) -> int:
    """Points the order earned now (0 when it had earned already: idempotent per order)."""
    if not record.counts_as_purchase:
        return 0
    return ledger.sync_order_points(_snapshot(record), settings, now=now).earned
