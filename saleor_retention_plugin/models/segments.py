"""Customer segments, stored: one row per customer and channel, rewritten by a periodic task.

Written only by ``services.segments.refresh_segments`` (the ``refresh_segments_task`` of
the beat schedule): every customer with a counted order in the channel, scored as of
``as_of`` by the definitions of ``domain.metrics.score_customers`` (docs/analytics.md).
Flows and campaigns read it through ``selectors.segments.customers_in_segment``; a row
is as fresh as its ``computed_at``. No foreign keys: ``customer_key`` is the purchase
history's key (``customer:<id>``, ``email:<address>``, ``anonymised:<random>``).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from .constraints import check_constraint

SEGMENTS = ("new", "active", "dormant")


class CustomerSegment(models.Model):
    channel_slug = models.SlugField(max_length=255)
    customer_key = models.CharField(max_length=300)
    # new / active / dormant (thresholds in ``cycle_days``: new < C, active < 2C days).
    segment = models.CharField(max_length=16)
    cycle_days = models.PositiveIntegerField()
    orders = models.PositiveIntegerField()
    # Net goods amount of the customer's counted orders, in the channel's currency.
    revenue = models.DecimalField(max_digits=16, decimal_places=2)
    currency = models.CharField(max_length=3)
    first_order_on = models.DateField()
    last_order_on = models.DateField()
    # RFM quintile scores, 1-5, 5 best.
    recency_score = models.PositiveSmallIntegerField()
    frequency_score = models.PositiveSmallIntegerField()
    monetary_score = models.PositiveSmallIntegerField()
    # Share of the customer's orders with a discount or voucher, 0-1 (4 decimals).
    discount_share = models.DecimalField(max_digits=5, decimal_places=4)
    discount_driven = models.BooleanField()
    high_value = models.BooleanField()
    # The refresh's prediction for the next ``SegmentFit.horizon_weeks`` weeks (BG/NBD x
    # Gamma-Gamma): P(alive), expected orders and their value in ``currency``; none when
    # the models could not be fitted.
    probability_alive = models.FloatField(null=True, blank=True)
    expected_orders = models.FloatField(null=True, blank=True)
    expected_value = models.FloatField(null=True, blank=True)
    as_of = models.DateField()
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel_slug", "customer_key"], name="retention_segment_one_per_customer"
            ),
            check_constraint(
                condition=Q(segment__in=SEGMENTS), name="retention_segment_known_segment"
            ),
            check_constraint(
                condition=Q(recency_score__range=(1, 5))
                & Q(frequency_score__range=(1, 5))
                & Q(monetary_score__range=(1, 5)),
                name="retention_segment_scores_1_to_5",
            ),
            check_constraint(
                condition=Q(discount_share__gte=0) & Q(discount_share__lte=1),
                name="retention_segment_discount_share_0_to_1",
            ),
            check_constraint(
                condition=Q(orders__gte=1) & Q(revenue__gt=0),
                name="retention_segment_is_a_buyer",
            ),
        ]
        indexes = [
            models.Index(fields=["channel_slug", "segment"], name="retention_segment_seg_idx"),
            models.Index(
                fields=["channel_slug", "high_value"],
                name="retention_segment_hv_idx",
                condition=Q(high_value=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel_slug} {self.customer_key}: {self.segment}"


class SegmentFit(models.Model):
    """The models the last segment refresh of a channel fitted, and on what.

    One row per channel, rewritten with the segments (``services.segments``). The report
    reuses it, with the predictions stored on ``CustomerSegment``, when it is current:
    same as-of day, timezone and currency, and no purchase summary changed after
    ``fitted_at`` (``selectors.lifetime.stored_fit``). ``bg_nbd`` and ``gamma_gamma`` hold
    the parameters by name (none when ``unavailable`` says why there is no fit).
    """

    channel_slug = models.SlugField(max_length=255, unique=True)
    currency = models.CharField(max_length=3)
    tz = models.CharField(max_length=64)
    as_of = models.DateField()
    fitted_at = models.DateTimeField()
    # The fit's input: customers, repeat buyers and distinct (x, t_x, T) rows.
    customers = models.PositiveIntegerField()
    repeat_customers = models.PositiveIntegerField()
    distinct_rows = models.PositiveIntegerField()
    horizon_weeks = models.PositiveIntegerField()
    bg_nbd = models.JSONField(null=True, blank=True)
    gamma_gamma = models.JSONField(null=True, blank=True)
    unavailable = models.TextField(blank=True, default="")
    fit_seconds = models.FloatField(default=0)

    def __str__(self) -> str:
        return f"{self.channel_slug} fitted at {self.fitted_at} (as of {self.as_of})"
