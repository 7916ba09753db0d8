"""Saleor order -> OrderSnapshot. Imports Saleor: runs only inside a Saleor process."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from ...domain.orders import OrderSnapshot

if TYPE_CHECKING:
    from datetime import datetime

    from saleor.order.models import Order

logger = logging.getLogger(__name__)

FULLY_CHARGED_STATUSES = frozenset({"full", "overcharged"})


def orders_updated_since(since: datetime) -> list[tuple[str, str]]:
    """``(order id, channel slug)`` of orders changed since ``since`` in the channels where
    the plugin is switched on (Saleor's ``updated_at`` index serves it)."""
    from saleor.order.models import Order
    from saleor.plugins.models import PluginConfiguration

    from ...plugin import RetentionPlugin

    active_channels = PluginConfiguration.objects.filter(
        identifier=RetentionPlugin.PLUGIN_ID, active=True, channel__isnull=False
    ).values_list("channel_id", flat=True)
    rows = (
        Order.objects.filter(updated_at__gte=since, channel_id__in=active_channels)
        .exclude(status__in=["draft", "expired"])
        .order_by("updated_at")
        .values_list("pk", "channel__slug")
    )
    return [(str(pk), slug) for pk, slug in rows]


def load_order_snapshot(order_id: str) -> OrderSnapshot | None:
    from saleor.order.models import Order

    order = Order.objects.select_related("channel", "user").filter(pk=order_id).first()
    if order is None:
        return None
    return order_snapshot(order)


def order_snapshot(order: Order) -> OrderSnapshot:
    # Points are earned on what the goods cost after every discount, without tax and
    # shipping: the net total (already discounted) minus the net shipping price. Gift
    # cards are money, not goods: points come when the card is spent, not when bought.
    gift_cards_net, gift_cards_gross = gift_card_amounts(order)
    points_base = order.total_net_amount - order.shipping_price_net_amount - gift_cards_net
    goods = order.total_gross_amount - order.shipping_price_gross_amount - gift_cards_gross
    refunded = refunded_amount(order)
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
        points_base_amount=max(points_base, Decimal(0)),
        total_amount=order.total_gross_amount,
        refunded_amount=refunded,
        created_at=order.created_at,
        goods_amount=max(goods, Decimal(0)),
        # A confirmed account proved it owns its email; only then may the order pull
        # that email's guest points in (and only the account's own email).
        email_verified=bool(
            user is not None
            and user.is_confirmed
            and (order.user_email or "").lower() == (user.email or "").lower()
        ),
    )


def gift_card_amounts(order: Order) -> tuple[Decimal, Decimal]:
    """Net and gross totals of the order's gift-card lines (one query)."""
    from django.db.models import Sum

    totals = order.lines.filter(is_gift_card=True).aggregate(
        net=Sum("total_price_net_amount"), gross=Sum("total_price_gross_amount")
    )
    return totals["net"] or Decimal(0), totals["gross"] or Decimal(0)


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
    """
    from saleor.payment import TransactionKind
    from saleor.payment.models import Transaction

    legacy = Transaction.objects.filter(
        payment__order=order, kind=TransactionKind.REFUND, is_success=True
    ).values_list("amount", flat=True)
    transaction_items = order.payment_transactions.values_list("refunded_value", flat=True)
    return sum(legacy, Decimal(0)) + sum(transaction_items, Decimal(0))
