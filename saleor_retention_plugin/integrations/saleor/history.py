"""Saleor's own orders as backfill rows. Imports Saleor: runs only inside a Saleor process.

Orders are read in ``(created_at, pk)`` order with keyset pagination (memory flat), a page
at a time with what ``order_snapshot`` reads prefetched (``orders_for_snapshots``); refunds
are read per order as the live intake reads them (two queries each). Each order becomes
the very record the live order intake would store for it (``order_snapshot`` ->
``order_value`` -> ``purchase_record_from_snapshot``): one order, one truth, whether it
arrived through a hook or through the backfill. Tested in the Saleor tier
(``tests/saleor/test_backfill_from_saleor.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...domain.history import PurchaseRecord, SourceRow, purchase_record_from_snapshot
from ...domain.orders import order_value
from .orders import order_snapshot, orders_for_snapshots

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from saleor.order.models import Order

PAGE_SIZE = 500
# Not orders yet: a draft is a staff member's work in progress, never placed.
LEFT_OUT_STATUSES = ("draft",)


def saleor_order_rows(
    *, channel: str | None = None, since: datetime | None = None, until: datetime | None = None
) -> Iterator[SourceRow]:
    """One backfill row per Saleor order (lines nested); drafts are left out.

    ``channel`` is a channel slug; ``since`` (inclusive) and ``until`` (exclusive) bound
    the order's ``created_at``. Rows are numbered 1, 2, ... in a stable order (``created_at``,
    then pk) so the checkpoint can resume.
    """
    from django.db.models import Q

    orders = orders_for_snapshots().exclude(status__in=LEFT_OUT_STATUSES)
    if channel:
        orders = orders.filter(channel__slug=channel)
    if since:
        orders = orders.filter(created_at__gte=since)
    if until:
        orders = orders.filter(created_at__lt=until)
    orders = orders.order_by("created_at", "pk")
    number = 0
    last: tuple[datetime, Any] | None = None
    while True:
        page = orders
        if last is not None:
            page = page.filter(Q(created_at__gt=last[0]) | Q(created_at=last[0], pk__gt=last[1]))
        rows = list(page[:PAGE_SIZE])
        if not rows:
            return
        for order in rows:
            number += 1
            yield SourceRow(number, order_values(order))
        last = (rows[-1].created_at, rows[-1].pk)


def order_values(order: Order) -> dict[str, Any]:
    """The backfill fields of a Saleor order (docs/backfill.md), lines nested.

    Exactly what the live intake stores for the order as it now stands: goods net of tax
    after every discount, less the refunded (or cancelled) share; gift-card lines left out.
    """
    snapshot = order_snapshot(order)
    return record_values(
        purchase_record_from_snapshot(snapshot, order_value(snapshot).net_goods_amount)
    )


def record_values(record: PurchaseRecord) -> dict[str, Any]:
    """A ``PurchaseRecord`` in the backfill's row format (text amounts, ISO dates)."""
    return {
        "order_id": record.order_id,
        "channel": record.channel_slug,
        "customer_id": record.customer_id,
        "email": record.email,
        "placed_at": record.placed_at.isoformat(),
        "status": record.status,
        "currency": record.currency,
        "net_goods_amount": str(record.net_goods_amount),
        "used_voucher": record.used_voucher,
        "used_discount": record.used_discount,
        "voucher_code": record.voucher_code,
        "lines": [
            {
                "line_id": line.line_id,
                "variant_id": line.variant_id,
                "product_id": line.product_id,
                "product_type_id": line.product_type_id,
                "category_id": line.category_id,
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price_net": str(line.unit_price_net),
            }
            for line in record.lines
        ],
    }
