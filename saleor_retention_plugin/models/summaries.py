"""Kept purchase summaries: what the report reads instead of re-deriving it from every order.

The report's figures all start from two facts per customer that used to be recomputed
from the whole purchase history on every call: each customer's order days (with the
customer's first day and previous order day) and each customer's totals. These tables
keep them, in PostgreSQL, maintained by statement-level triggers on ``PurchasedOrder``
and ``PurchasedLine`` in the writer's own transaction (the order intake, the backfill, a
guest merge, an anonymisation, a raw fix alike), as ``QualifyingMonth`` is kept:

- ``PurchaseDay``: one row per (channel, currency, customer, order day);
- ``PurchaseKindDay``: one row per (channel, currency, customer, product type or
  category, order day): the repurchase cycle per type and category;
- ``PurchaseSummary``: one row per (channel, currency, customer).

Only counted orders (``counts`` and a net goods amount above zero) appear, so a refund in
full or a cancellation takes the order out, as the metrics define it. A trigger
recomputes every customer a statement touched (old and new key: a merge or an
anonymisation moves orders between keys) from that customer's orders, so out-of-order and
repeated events give the same rows as one clean load. Order days are local days in the
channel's ``PurchaseSummaryZone`` (UTC without one); the report uses the kept rows only
for that timezone. ``services.purchase_summaries`` verifies and rebuilds them. On other
databases (the SQLite sandbox) nothing is kept and the report loads the orders, as before.
"""

from __future__ import annotations

from django.db import models


class PurchaseSummaryZone(models.Model):
    """The timezone whose local days a channel's kept summaries are in (UTC without a row)."""

    channel_slug = models.SlugField(max_length=255, unique=True)
    tz = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"{self.channel_slug}: {self.tz}"


class PurchaseDay(models.Model):
    channel_slug = models.SlugField(max_length=255)
    currency = models.CharField(max_length=3)
    customer_key = models.CharField(max_length=300)
    day = models.DateField()
    # Net goods amount and orders of the customer's counted orders that day.
    revenue = models.DecimalField(max_digits=16, decimal_places=2)
    orders = models.PositiveIntegerField()
    discount_orders = models.PositiveIntegerField()
    # The customer's first order day and the order day before this one (none for the first).
    first_day = models.DateField()
    prev_day = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel_slug", "customer_key", "currency", "day"],
                name="retention_purchase_day_once",
            ),
        ]
        indexes = [
            models.Index(
                fields=["channel_slug", "currency", "day"], name="retention_purchase_day_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel_slug} {self.customer_key} {self.day}"


class PurchaseKindDay(models.Model):
    channel_slug = models.SlugField(max_length=255)
    currency = models.CharField(max_length=3)
    customer_key = models.CharField(max_length=300)
    # "product_type" or "category", and the type's or category's id.
    dimension = models.CharField(max_length=16)
    kind = models.CharField(max_length=64)
    day = models.DateField()
    prev_day = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel_slug", "customer_key", "currency", "dimension", "kind", "day"],
                name="retention_purchase_kind_day_once",
            ),
        ]
        indexes = [
            models.Index(
                fields=["channel_slug", "currency", "dimension", "day"],
                name="retention_kind_day_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel_slug} {self.customer_key} {self.kind} {self.day}"


class PurchaseSummary(models.Model):
    channel_slug = models.SlugField(max_length=255)
    currency = models.CharField(max_length=3)
    customer_key = models.CharField(max_length=300)
    first_day = models.DateField()
    # The first order day after the first (none for a one-day customer).
    second_day = models.DateField(null=True, blank=True)
    last_day = models.DateField()
    first_order_at = models.DateTimeField()
    last_order_at = models.DateTimeField()
    orders = models.PositiveIntegerField()
    order_days = models.PositiveIntegerField()
    revenue = models.DecimalField(max_digits=16, decimal_places=2)
    # Net goods amount of the order days after the first (Gamma-Gamma's repeat spend).
    repeat_revenue = models.DecimalField(max_digits=16, decimal_places=2)
    discount_orders = models.PositiveIntegerField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel_slug", "customer_key", "currency"],
                name="retention_purchase_summary_once",
            ),
        ]
        indexes = [
            models.Index(
                fields=["channel_slug", "updated_at"], name="retention_summary_updated_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel_slug} {self.customer_key}: {self.orders} orders"
