"""Saleor order -> OrderSnapshot, read once per task. Imports Saleor: runs only inside Saleor."""

from __future__ import annotations

import functools
import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...constants import PLUGIN_ID
from ...domain.orders import OrderLineSnapshot, OrderSnapshot

if TYPE_CHECKING:
    from datetime import datetime

    from django.db.models import QuerySet, Subquery
    from saleor.order.models import Order, OrderLine

logger = logging.getLogger(__name__)

FULLY_CHARGED_STATUSES = frozenset({"full", "overcharged"})
# Saleor's statuses of money actually given back: a granted refund processed, a
# fulfilment of refunded (and possibly returned) lines.
GRANTED_REFUND_DONE = "success"
REFUNDED_FULFILMENT_STATUSES = ("refunded", "refunded_and_returned")
# Saleor's OrderStatus.FULFILLED and FulfillmentStatus.FULFILLED (lines sent out).
FULFILLED = "fulfilled"


def orders_updated_since(since: datetime) -> list[tuple[str, str]]:
    """``(order id, channel slug)`` of orders changed since ``since``.

    Only in the channels where the plugin is switched on (Saleor's ``updated_at`` index
    serves it).
    """
    from saleor.order.models import Order
    from saleor.plugins.models import PluginConfiguration

    active_channels = PluginConfiguration.objects.filter(
        identifier=PLUGIN_ID, active=True, channel__isnull=False
    ).values_list("channel_id", flat=True)
    rows = (
        Order.objects.filter(updated_at__gte=since, channel_id__in=active_channels)
        .exclude(status__in=["draft", "expired"])
        .order_by("updated_at")
        .values_list("pk", "channel__slug")
    )
    return [(str(pk), slug) for pk, slug in rows]


def load_order_snapshot(order_id: str) -> OrderSnapshot | None:
    """Read the order once, with what the intake needs: two queries for most orders.

    The order comes with its channel, user, refund totals and whether it has discounts,
    processed granted refunds or refunded fulfilments (one query); then its lines with
    their products. Only an order that has itemised refunds reads them (granted refunds
    and their lines, refunded fulfilments and their lines).
    """
    from django.db.models import Prefetch, prefetch_related_objects
    from saleor.order.models import Fulfillment

    order = _orders_to_read().filter(pk=order_id).first()
    if order is None:
        return None
    itemised: list[str | Prefetch] = []
    if order.retention_has_granted_refunds:
        itemised.append("granted_refunds__lines")
    if order.retention_has_refunded_fulfilments:
        itemised.append(
            Prefetch(
                "fulfillments",
                queryset=Fulfillment.objects.filter(
                    status__in=REFUNDED_FULFILMENT_STATUSES
                ).prefetch_related("lines"),
                to_attr="refunded_fulfilments",
            )
        )
    else:
        order.refunded_fulfilments = []
    if itemised:
        prefetch_related_objects([order], *itemised)
    return order_snapshot(order)


@functools.cache
def _orders_to_read() -> QuerySet[Order]:
    """``load_order_snapshot``'s queryset without the order's id, built once per process.

    Never evaluated itself (each read filters a clone). Its expressions hold no value of
    any one order, and resolving its four subqueries was a fifth of the order read's time.
    """
    from django.db.models import Prefetch
    from saleor.order.models import Order, OrderLine

    return _with_refund_facts(Order.objects.select_related("channel", "user")).prefetch_related(
        Prefetch(
            "lines",
            queryset=OrderLine.objects.select_related("variant__product").order_by(
                "created_at", "pk"
            ),
        )
    )


def orders_for_snapshots() -> QuerySet[Order]:
    """Saleor's orders with everything ``order_snapshot`` reads prefetched.

    The backfill reads a page of orders through it: one query
    per relation for the whole page, the refund totals annotated (``_with_refund_facts``).
    """
    from django.db.models import Prefetch
    from saleor.order.models import Fulfillment, Order, OrderLine

    return (
        _with_refund_facts(Order.objects.select_related("channel", "user"))
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=OrderLine.objects.select_related("variant__product").order_by(
                    "created_at", "pk"
                ),
            ),
            "granted_refunds__lines",
            Prefetch(
                "fulfillments",
                queryset=Fulfillment.objects.filter(
                    status__in=REFUNDED_FULFILMENT_STATUSES
                ).prefetch_related("lines"),
                to_attr="refunded_fulfilments",
            ),
            "discounts",
        )
        .annotate(retention_fulfilled_at=_latest_fulfilment_at())
    )


def _with_refund_facts(orders: QuerySet[Order]) -> QuerySet[Order]:
    """Annotate what ``order_snapshot`` would otherwise query for each order.

    ``retention_refunded``: what ``refunded_amount`` totals; ``retention_has_discounts``,
    ``retention_has_granted_refunds`` (processed ones) and
    ``retention_has_refunded_fulfilments``: whether there is anything of each to read.
    """
    from django.db.models import DecimalField, Exists, OuterRef, Subquery, Sum, Value
    from django.db.models.functions import Coalesce
    from saleor.discount.models import OrderDiscount
    from saleor.order.models import Fulfillment, OrderGrantedRefund
    from saleor.payment import TransactionKind
    from saleor.payment.models import Transaction, TransactionItem

    money = DecimalField(max_digits=20, decimal_places=4)

    def total(rows: QuerySet[Any], key: str, field: str) -> Coalesce:
        summed = rows.order_by().values(key).annotate(total=Sum(field)).values("total")
        return Coalesce(Subquery(summed, output_field=money), Value(Decimal(0)), output_field=money)

    legacy = Transaction.objects.filter(
        payment__order=OuterRef("pk"), kind=TransactionKind.REFUND, is_success=True
    )
    items = TransactionItem.objects.filter(order=OuterRef("pk"))
    return orders.annotate(
        retention_refunded=total(legacy, "payment__order", "amount")
        + total(items, "order", "refunded_value"),
        retention_has_discounts=Exists(OrderDiscount.objects.filter(order=OuterRef("pk"))),
        retention_has_granted_refunds=Exists(
            OrderGrantedRefund.objects.filter(order=OuterRef("pk"), status=GRANTED_REFUND_DONE)
        ),
        retention_has_refunded_fulfilments=Exists(
            Fulfillment.objects.filter(
                order=OuterRef("pk"), status__in=REFUNDED_FULFILMENT_STATUSES
            )
        ),
    )


def _latest_fulfilment_at() -> Subquery:
    """When the order's latest fulfilment that went out was created (a subquery)."""
    from django.db.models import Max, OuterRef, Subquery
    from saleor.order.models import Fulfillment

    latest = (
        Fulfillment.objects.filter(order=OuterRef("pk"), status=FULFILLED)
        .order_by()
        .values("order")
        .annotate(at=Max("created_at"))
        .values("at")
    )
    return Subquery(latest)


def fulfilled_at(order: Order) -> datetime | None:
    """When Saleor fulfilled the order: its latest fulfilled fulfilment's ``created_at``.

    None unless the order's status is fulfilled. Read from ``retention_fulfilled_at`` when
    the queryset annotated it, else one query (only for a fulfilled order: a checkout's
    new order costs nothing). A fulfilment that waited for approval counts from its
    creation.
    """
    if order.status != FULFILLED:
        return None
    if hasattr(order, "retention_fulfilled_at"):
        return order.retention_fulfilled_at
    from django.db.models import Max
    from saleor.order.models import Fulfillment

    return Fulfillment.objects.filter(order_id=order.pk, status=FULFILLED).aggregate(
        at=Max("created_at")
    )["at"]


def order_snapshot(order: Order) -> OrderSnapshot:
    """The order as plain values.

    With ``load_order_snapshot``'s reads it adds no query; on a bare ``Order`` a few.
    """
    lines = list(order.lines.all())
    # Points are earned on the goods after every discount (Saleor spreads order-level
    # discounts over the line totals), without tax and shipping: from the lines, never
    # from the order total, which gift-card payments lower. Gift-card lines are money,
    # not goods: their points come when the card is spent.
    goods = [line for line in lines if not line.is_gift_card]
    goods_net = sum((line.total_price_net_amount for line in goods), Decimal(0))
    goods_gross = sum((line.total_price_gross_amount for line in goods), Decimal(0))
    gift_card_lines_gross = sum(
        (line.total_price_gross_amount for line in lines if line.is_gift_card), Decimal(0)
    )
    charged_for = goods_gross + gift_card_lines_gross + order.shipping_price_gross_amount
    refunded = refunded_amount(order)
    refunded_goods, refunded_shipping = itemised_refunds(order, lines)
    user = order.user
    return OrderSnapshot(
        order_id=str(order.pk),
        number=str(order.number),
        channel_slug=order.channel.slug,
        channel_currency=order.channel.currency_code,
        currency=order.currency,
        customer_id=order.user_id,
        email=order.user_email or None,
        status=order.status,
        is_fully_paid=was_fully_paid(order, refunded),
        points_base_amount=max(goods_net, Decimal(0)),
        total_amount=order.total_gross_amount,
        refunded_amount=refunded,
        created_at=order.created_at,
        goods_amount=max(goods_gross, Decimal(0)),
        # A confirmed account proved it owns its email; only then may the order pull
        # that email's guest points in (and only the account's own email).
        email_verified=bool(
            user is not None
            and user.is_confirmed
            and (order.user_email or "").lower() == (user.email or "").lower()
        ),
        refunded_goods_amount=refunded_goods,
        refunded_shipping_amount=refunded_shipping,
        # Gift cards applied at checkout lower the order's total below what its lines
        # and shipping cost.
        gift_card_paid_amount=max(charged_for - order.total_gross_amount, Decimal(0)),
        lines=tuple(line_snapshot(line) for line in lines),
        checkout_token=str(order.checkout_token or "") or None,
        voucher_code=order.voucher_code or None,
        language_code=getattr(order, "language_code", "") or "en",
        fulfilled_at=fulfilled_at(order),
        has_discount=bool(
            order.voucher_code
            or order.voucher_id
            or any(line.unit_discount_amount for line in lines)
            or _has_discounts(order)
        ),
    )


def line_snapshot(line: OrderLine) -> OrderLineSnapshot:
    variant = line.variant
    product = variant.product if variant is not None else None
    quantity = int(line.quantity)
    unit_net = line.total_price_net_amount / quantity if quantity else Decimal(0)
    return OrderLineSnapshot(
        line_id=str(line.pk),
        variant_id=str(line.variant_id) if line.variant_id is not None else None,
        product_id=str(product.pk) if product is not None else None,
        product_type_id=str(product.product_type_id) if product is not None else None,
        category_id=(
            str(product.category_id)
            if product is not None and product.category_id is not None
            else None
        ),
        sku=line.product_sku or None,
        quantity=quantity,
        unit_price_net=unit_net.quantize(Decimal("0.0001")),
        is_gift_card=bool(line.is_gift_card),
    )


def itemised_refunds(order: Order, lines: list[OrderLine]) -> tuple[Decimal, Decimal]:
    """Gross goods and gross shipping that Saleor's itemised refunds gave back.

    Processed granted refunds list lines and whether shipping was included; refunded
    fulfilments list lines and a shipping refund amount. An itemised refund's amount
    beyond its shipping counts as goods; a granted refund that itemises nothing is left
    to the domain's rule for unitemised refunds (``domain.orders.order_value``).
    """
    unit_gross = {
        line.pk: line.total_price_gross_amount / line.quantity if line.quantity else Decimal(0)
        for line in lines
    }

    def lines_total(rows: Any) -> Decimal:
        return sum(
            (unit_gross.get(row.order_line_id, Decimal(0)) * row.quantity for row in rows),
            Decimal(0),
        )

    goods = shipping = Decimal(0)
    granted_refunds = (
        order.granted_refunds.all() if getattr(order, "retention_has_granted_refunds", True) else ()
    )
    for granted in granted_refunds:
        if granted.status != GRANTED_REFUND_DONE:
            continue
        if not granted.shipping_costs_included and not lines_total(granted.lines.all()):
            continue
        shipping_part = (
            min(order.shipping_price_gross_amount, granted.amount_value)
            if granted.shipping_costs_included
            else Decimal(0)
        )
        shipping += shipping_part
        goods += max(granted.amount_value - shipping_part, Decimal(0))
    fulfilments = getattr(order, "refunded_fulfilments", None)
    if fulfilments is None:
        fulfilments = order.fulfillments.filter(status__in=REFUNDED_FULFILMENT_STATUSES)
    for fulfilment in fulfilments:
        shipping_part = fulfilment.shipping_refund_amount or Decimal(0)
        if fulfilment.total_refund_amount is not None:
            goods_part = max(fulfilment.total_refund_amount - shipping_part, Decimal(0))
        else:
            goods_part = lines_total(fulfilment.lines.all())
        shipping += shipping_part
        goods += goods_part
    return goods, shipping


def _has_discounts(order: Order) -> bool:
    annotated = getattr(order, "retention_has_discounts", None)
    if annotated is not None:
        return bool(annotated)
    return order.discounts.exists()


def was_fully_paid(order: Order, refunded: Decimal) -> bool:
    """Whether the customer paid the whole order at some point.

    Refunds lower what Saleor counts as charged, so an order refunded before its
    ``order_fully_paid`` task ran would otherwise never earn (and its refund would have
    nothing to take back): count what was refunded as paid.
    """
    if order.charge_status in FULLY_CHARGED_STATUSES:
        return True
    total = order.total_gross_amount
    return total > 0 and order.total_charged_amount + refunded >= total


def refunded_amount(order: Order) -> Decimal:
    """What has been refunded on the order so far, in its currency.

    Saleor's ``order_refunded`` hook carries no amount, so this mirrors how Saleor itself
    totals refunds in ``saleor.order.actions.order_refunded``: successful refund
    transactions of the legacy payments plus ``refunded_value`` of the transaction items.
    An order read by ``load_order_snapshot`` brings that total with it (no query).
    """
    annotated = getattr(order, "retention_refunded", None)
    if annotated is not None:
        return Decimal(annotated)
    from saleor.payment import TransactionKind
    from saleor.payment.models import Transaction

    legacy = Transaction.objects.filter(
        payment__order=order, kind=TransactionKind.REFUND, is_success=True
    ).values_list("amount", flat=True)
    transaction_items = order.payment_transactions.values_list("refunded_value", flat=True)
    return sum(legacy, Decimal(0)) + sum(transaction_items, Decimal(0))
