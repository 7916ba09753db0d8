"""Customers, orders, birthdays and member days for the flow tests, through the real services."""

from __future__ import annotations

import uuid
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from saleor_retention_plugin.domain.orders import OrderLineSnapshot, OrderSnapshot
from saleor_retention_plugin.models import CustomerTier, FlowMessage
from saleor_retention_plugin.services import ledger, tiers
from saleor_retention_plugin.services.order_intake import apply_order
from tests.integration.carts.cart_shop import CHANNEL, configure, shop_settings
from tests.integration.membership_factories import make_order

if TYPE_CHECKING:
    from datetime import datetime

CARE_ON = {"care_enabled": "true", "holdout_percent": "0"}


def care_on(**overrides: Any):
    return configure(**{**CARE_ON, **overrides})


def order(
    customer_id: int | None = 7,
    *,
    at: datetime,
    email: str | None = None,
    status: str = "unfulfilled",
    order_id: str | None = None,
    total: str = "120",
    refunded: str = "0",
    paid: bool = True,
    products: tuple[str, ...] = ("tea",),
    language: str = "en",
    now: datetime | None = None,
) -> OrderSnapshot:
    """Apply an order as Saleor would send it (the real intake: points, history, flows)."""
    snapshot = replace(
        make_order(
            customer_id=customer_id,
            email=email or f"c{customer_id}@example.com",
            amount=total,
            paid=paid,
            status=status,
            refunded=refunded,
            created_at=at,
            order_id=order_id or str(uuid.uuid4()),
            channel_slug=CHANNEL,
        ),
        language_code=language,
        lines=tuple(line(product, total) for product in products),
    )
    apply_order(snapshot, shop_settings(), now=now or at)
    return snapshot


def line(product_id: str, total: str) -> OrderLineSnapshot:
    return OrderLineSnapshot(
        line_id=str(uuid.uuid4()),
        variant_id=f"{product_id}-v",
        product_id=product_id,
        product_type_id=None,
        category_id=None,
        sku=None,
        quantity=1,
        unit_price_net=Decimal(total),
        is_gift_card=False,
    )


def refulfil(snapshot: OrderSnapshot, at: datetime, **changes: Any) -> OrderSnapshot:
    """The same order as Saleor sends it again later (fulfilled, cancelled, refunded)."""
    changed = replace(snapshot, **{"status": "fulfilled", **changes})
    apply_order(changed, shop_settings(), now=at)
    return changed


def member(customer_id: int, *, tier: str | None = None, birthday: tuple[int, int] | None = None):
    """A registered customer's live account (and tier, and birthday on file)."""
    account = ledger.account_for(CHANNEL, customer_id, f"c{customer_id}@example.com")
    if tier:
        ladder = {t.code: t for t in tiers.seed_default_tiers(CHANNEL)}
        CustomerTier.objects.update_or_create(
            account=account,
            defaults={
                "channel_slug": CHANNEL,
                "tier": ladder[tier],
                "achieved_at": account.created_at,
            },
        )
    if birthday:
        tiers.set_birthday(customer_id, month=birthday[0], day=birthday[1], staff=True)
    return account


def sent(flow: str | None = None) -> list[tuple[str, int, int | None]]:
    """(flow, step, customer) of every sent message, in send order."""
    rows = FlowMessage.objects.filter(state="sent")
    if flow:
        rows = rows.filter(flow=flow)
    return list(rows.order_by("sent_at", "pk").values_list("flow", "step", "customer_id"))
