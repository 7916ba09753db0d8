"""Saleor's own orders as backfill rows. Imports Saleor: runs only inside a Saleor process.

Orders are read in ``(created_at, pk)`` order with keyset pagination (memory flat), each
with its lines (one ``prefetch_related`` per page). Refunds are read per order as the
live intake reads them (two queries each). Tested in the Saleor tier (by the lead).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...domain.history import SourceRow
from .orders import refunded_amount

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from saleor.order.models import Order

PAGE_SIZE = 500


def saleor_order_rows(
    *, channel: str | None = None, since: datetime | None = None, until: datetime | None = None
) -> Iterator[SourceRow]:
    """One backfill row per Saleor order (lines nested); drafts are left out.

    Rows are numbered 1, 2, ... in a stable order so the checkpoint can resume.
    """
    from saleor.order.models import Order

    orders = Order.objects.exclude(status="draft").select_related("channel")
    if channel:
        orders = orders.filter(channel__slug=channel)
    if since:
        orders = orders.filter(created_at__gte=since)
    if until:
        orders = orders.filter(created_at__lt=until)
    orders = orders.order_by("created_at", "pk").prefetch_related(
        "lines__variant__product__product_type", "lines__variant__product__category"
    )
    number = 0
    last: tuple[datetime, Any] | None = None
    while True:
        page = orders
        if last is not None:
            from django.db.models import Q

            page = page.filter(Q(created_at__gt=last[0]) | Q(created_at=last[0], pk__gt=last[1]))
        rows = list(page[:PAGE_SIZE])
        if not rows:
            return
        for order in rows:
            number += 1
            yield SourceRow(number, order_values(order))
        last = (rows[-1].created_at, rows[-1].pk)


def order_values(order: Order) -> dict[str, Any]:
    """The backfill fields of a Saleor order (see docs/backfill.md), net amounts."""
    lines_all = list(order.lines.all())  # prefetched with the page
    gift_cards_net = sum(
        (line.total_price_net_amount for line in lines_all if line.is_gift_card), Decimal(0)
    )
    goods_net = order.total_net_amount - order.shipping_price_net_amount - gift_cards_net
    gross = order.total_gross_amount
    refunded = refunded_amount(order)
    # Refunds are gross; take back the same share of the net goods.
    refunded_net = goods_net * min(refunded / gross, Decimal(1)) if gross > 0 else Decimal(0)
    lines = []
    for line in lines_all:
        if line.is_gift_card:
            continue
        variant = line.variant
        product = variant.product if variant is not None else None
        lines.append(
            {
                "line_id": str(line.pk),
                "variant_id": str(line.variant_id) if line.variant_id else None,
                "product_id": str(product.pk) if product else None,
                "product_type_id": str(product.product_type_id) if product else None,
                "category_id": str(product.category_id)
                if product and product.category_id
                else None,
                "sku": line.product_sku,
                "quantity": line.quantity,
                "unit_price_net": str(line.unit_price_net_amount),
            }
        )
    return {
        "order_id": str(order.pk),
        "channel": order.channel.slug,
        "customer_id": order.user_id,
        "email": order.user_email or None,
        "placed_at": order.created_at.isoformat(),
        "status": order.status,
        "currency": order.currency,
        "net_goods_amount": str(
            max(goods_net - refunded_net, Decimal(0)).quantize(Decimal("0.01"))
        ),
        "voucher_code": order.voucher_code or None,
        "used_discount": bool(order.voucher_code)
        or order.undiscounted_total_net_amount > order.total_net_amount,
        "lines": lines,
    }
