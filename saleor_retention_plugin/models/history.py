"""The purchase history: one row per order and one per order line, the plugin's own copy.

Written by ``services.purchase_history.record_purchase`` (the order intake and the
backfill) as a reconciliation: the order row is upserted and its lines replaced, so any
event, any number of times, leaves one row per order. No foreign keys into Saleor:
orders, variants, products, types and categories are kept by their ids as text.

``customer_key`` is what the metrics group by: ``customer:<id>`` for a customer,
``email:<address>`` for a guest (re-keyed to the customer when the guest's email is
merged, as the ledger does), ``anonymised:<random>`` after the customer was forgotten
(rows stay for totals). ``counts`` says whether the order is a purchase (not a draft,
unconfirmed, expired or cancelled order); the metrics only read counted orders.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from .constraints import check_constraint


class PurchasedOrder(models.Model):
    order_id = models.CharField(max_length=64, unique=True)
    channel_slug = models.SlugField(max_length=255)
    customer_key = models.CharField(max_length=300)
    customer_id = models.BigIntegerField(null=True, blank=True)
    email = models.CharField(max_length=254, null=True, blank=True)
    placed_at = models.DateTimeField()
    status = models.CharField(max_length=32)
    counts = models.BooleanField(default=True)
    currency = models.CharField(max_length=3)
    # Goods paid for, net of tax, after discounts and refunds; in ``currency``.
    net_goods_amount = models.DecimalField(max_digits=14, decimal_places=2)
    used_voucher = models.BooleanField(default=False)
    used_discount = models.BooleanField(default=False)
    voucher_code = models.CharField(max_length=255, null=True, blank=True)
    # "intake" (live orders), or the backfill's source name.
    source = models.CharField(max_length=64, default="intake")
    recorded_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            check_constraint(
                condition=Q(net_goods_amount__gte=0), name="retention_purchase_amount_not_negative"
            ),
            check_constraint(
                condition=~Q(customer_key=""), name="retention_purchase_has_customer_key"
            ),
        ]
        indexes = [
            models.Index(
                fields=["channel_slug", "customer_key", "placed_at"],
                name="retention_purchase_cust_idx",
            ),
            models.Index(fields=["channel_slug", "placed_at"], name="retention_purchase_time_idx"),
            models.Index(fields=["customer_id"], name="retention_purchase_custid_idx"),
            models.Index(fields=["email"], name="retention_purchase_email_idx"),
            # The lifecycle refreshes' watermark: orders written since the last one.
            models.Index(
                fields=["channel_slug", "recorded_at"], name="retention_purchase_recor_idx"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"order {self.order_id} @ {self.channel_slug}: {self.net_goods_amount} {self.currency}"
        )


class PurchasedLine(models.Model):
    order = models.ForeignKey(PurchasedOrder, on_delete=models.CASCADE, related_name="lines")
    line_id = models.CharField(max_length=64)
    variant_id = models.CharField(max_length=64, null=True, blank=True)
    product_id = models.CharField(max_length=64, null=True, blank=True)
    product_type_id = models.CharField(max_length=64, null=True, blank=True)
    category_id = models.CharField(max_length=64, null=True, blank=True)
    sku = models.CharField(max_length=255, null=True, blank=True)
    quantity = models.PositiveIntegerField()
    unit_price_net = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["order", "line_id"], name="retention_purchase_line_once"
            ),
            check_constraint(
                condition=Q(quantity__gt=0), name="retention_purchase_line_quantity_positive"
            ),
            check_constraint(
                condition=Q(unit_price_net__gte=0),
                name="retention_purchase_line_price_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["product_type_id"], name="retention_purchase_ptype_idx"),
            models.Index(fields=["category_id"], name="retention_purchase_categ_idx"),
            # "Is this product still sold?" (recommendations' default catalogue), per product.
            models.Index(fields=["product_id"], name="retention_purchase_product_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku or self.variant_id} @ {self.unit_price_net}"


class BackfillCheckpoint(models.Model):
    """How far a backfill of one source got: resuming starts after ``position``."""

    source = models.CharField(max_length=500, unique=True)
    # Rows (file) or orders (Saleor) fully handled, in the source's stable order.
    position = models.BigIntegerField(default=0)
    imported = models.BigIntegerField(default=0)
    skipped = models.BigIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.source}: {self.position}"
