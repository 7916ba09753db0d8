"""Kept state of the replenishment and win-back flows, and the co-purchase table.

Each table is rebuilt set-based by a periodic refresh from the purchase history (see
``services.replenishment``, ``services.winback``, ``services.recommendations``), so the
frequent "who is due now" question reads an index range of due rows and costs what is
due, not what the history holds. Between refreshes a reorder is caught by the re-check
at send time (``still_due``), which reads the history itself. No foreign keys: customers
by the purchase history's ``customer_key``, products by Saleor's id as text.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from .constraints import check_constraint


class ReplenishmentDue(models.Model):
    """The next replenishment reminder of one customer and product in one channel."""

    channel_slug = models.SlugField(max_length=255)
    customer_key = models.CharField(max_length=300)
    customer_id = models.BigIntegerField(null=True, blank=True)
    email = models.CharField(max_length=254, null=True, blank=True)
    product_id = models.CharField(max_length=64)
    # The latest counted order with the product: the reminder's anchor.
    last_order_id = models.CharField(max_length=64)
    last_purchased_at = models.DateTimeField()
    last_quantity = models.PositiveIntegerField()
    purchases = models.PositiveIntegerField()
    # Days; where it came from: own / shrunk / product / configured (domain.replenishment).
    interval_days = models.FloatField()
    interval_source = models.CharField(max_length=16)
    run_out_at = models.DateTimeField()
    due_at = models.DateTimeField()
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel_slug", "customer_key", "product_id"],
                name="retention_replenish_one_per_product",
            ),
            check_constraint(
                condition=Q(interval_days__gt=0), name="retention_replenish_interval_positive"
            ),
            check_constraint(
                condition=Q(due_at__gte=F("last_purchased_at")),
                name="retention_replenish_due_after_purchase",
            ),
            check_constraint(
                condition=~Q(customer_key__startswith="anonymised:"),
                name="retention_replenish_not_anonymised",
            ),
        ]
        indexes = [
            models.Index(fields=["channel_slug", "due_at"], name="retention_replenish_due_idx"),
            # The incremental refresh finds the rows anchored on changed orders.
            models.Index(
                fields=["channel_slug", "last_order_id"], name="retention_replenish_anchor_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_key} {self.product_id} @ {self.channel_slug}: {self.due_at}"


class WinbackDue(models.Model):
    """When one customer of one channel becomes dormant, if they do not order again."""

    channel_slug = models.SlugField(max_length=255)
    customer_key = models.CharField(max_length=300)
    customer_id = models.BigIntegerField(null=True, blank=True)
    email = models.CharField(max_length=254, null=True, blank=True)
    last_order_id = models.CharField(max_length=64)
    last_order_at = models.DateTimeField()
    # Median gap between the customer's orders in days; null with fewer than two orders.
    usual_interval_days = models.FloatField(null=True, blank=True)
    dormant_at = models.DateTimeField()
    high_value = models.BooleanField(default=False)
    price_sensitive = models.BooleanField(default=False)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel_slug", "customer_key"], name="retention_winback_one_per_customer"
            ),
            check_constraint(
                condition=Q(dormant_at__gt=F("last_order_at")),
                name="retention_winback_dormant_after_order",
            ),
            check_constraint(
                condition=~Q(customer_key__startswith="anonymised:"),
                name="retention_winback_not_anonymised",
            ),
        ]
        indexes = [
            models.Index(fields=["channel_slug", "dormant_at"], name="retention_winback_due_idx"),
            # The incremental refresh finds the rows anchored on changed orders.
            models.Index(
                fields=["channel_slug", "last_order_id"], name="retention_winback_anchor_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_key} @ {self.channel_slug}: dormant {self.dormant_at}"


class CoPurchasePair(models.Model):
    """Customers who bought ``product_a`` also bought ``product_b`` in the same order.

    ``support``: orders holding both; ``confidence``: support / orders holding
    ``product_a``; ``lift``: confidence / the share of orders holding ``product_b``.
    Both directions are stored.
    """

    channel_slug = models.SlugField(max_length=255)
    product_a = models.CharField(max_length=64)
    product_b = models.CharField(max_length=64)
    support = models.PositiveIntegerField()
    confidence = models.FloatField()
    lift = models.FloatField()
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel_slug", "product_a", "product_b"],
                name="retention_copurchase_once",
            ),
            check_constraint(
                condition=~Q(product_a=F("product_b")), name="retention_copurchase_two_products"
            ),
            check_constraint(
                condition=Q(support__gte=1)
                & Q(confidence__gt=0)
                & Q(confidence__lte=1)
                & Q(lift__gt=0),
                name="retention_copurchase_measures",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_a} -> {self.product_b} @ {self.channel_slug}: {self.support}"


class ProductInterval(models.Model):
    """A product's median repurchase interval across customers, kept between refreshes.

    Rewritten by the replenishment refresh's full rebuild (first run, a settings change,
    ``rebuild=True``, and at least daily: ``services.due_rows.FULL_REBUILD_EVERY``); the
    incremental refreshes in between read it instead of scanning every customer's history.
    """

    channel_slug = models.SlugField(max_length=255)
    product_id = models.CharField(max_length=64)
    median_days = models.FloatField()
    # Intervals (at least ``domain.replenishment.MIN_INTERVAL_DAYS``) the median is of.
    observations = models.PositiveIntegerField()
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel_slug", "product_id"], name="retention_product_interval_once"
            ),
            check_constraint(
                condition=Q(median_days__gt=0), name="retention_product_interval_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} @ {self.channel_slug}: {self.median_days} days"


class LifecycleRefreshState(models.Model):
    """Where a flow's incremental refresh of its kept due rows stands, per channel.

    ``watermark_at``: the latest ``PurchasedOrder.recorded_at`` the refresh has re-planned
    (the next one re-plans the customers of orders recorded since, with an overlap);
    ``planned_until``: the ``now`` of the last refresh (orders placed after it, recorded
    earlier, are picked up next time); ``rebuilt_at``: the last full rebuild;
    ``settings_digest``: the settings the rows were planned with (a change rebuilds).
    """

    channel_slug = models.SlugField(max_length=255)
    flow = models.CharField(max_length=32)
    settings_digest = models.CharField(max_length=64)
    watermark_at = models.DateTimeField(null=True, blank=True)
    planned_until = models.DateTimeField()
    rebuilt_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel_slug", "flow"], name="retention_lifecycle_state_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.flow} @ {self.channel_slug}: up to {self.watermark_at}"
