"""Post-purchase care, review points, birthday greetings and member days.

No foreign keys into Saleor: orders are Saleor's order UUIDs as text, customers Saleor's
user ids. Each table's uniqueness is the idempotency of its use-case: one rating per
order, one award per review, one greeting per customer, channel and year.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from .constraints import check_constraint


class SatisfactionRating(models.Model):
    """The 1-5 score a customer gave an order through a signed rating link.

    One per order: a second click on another star updates the score (the customer changed
    their mind); ``times_rated`` counts the clicks that changed or set it.
    """

    channel_slug = models.SlugField(max_length=255)
    order_id = models.CharField(max_length=64, unique=True)
    customer_id = models.BigIntegerField(null=True, blank=True)
    email = models.EmailField(max_length=254, blank=True, default="")
    score = models.PositiveSmallIntegerField()
    times_rated = models.PositiveIntegerField(default=1)
    rated_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            check_constraint(condition=Q(score__range=(1, 5)), name="retention_rating_score_1_to_5")
        ]
        indexes = [
            models.Index(fields=["channel_slug", "score"], name="retention_rating_score_idx")
        ]

    def __str__(self) -> str:
        return f"order {self.order_id}: {self.score}/5"


class ReviewAward(models.Model):
    """Points a review earned (``award_review_points``), and their reversal if it is removed."""

    channel_slug = models.SlugField(max_length=255)
    review_id = models.CharField(max_length=255)
    customer_id = models.BigIntegerField()
    account_id = models.BigIntegerField()
    points = models.PositiveIntegerField()
    # What the removal took back: at most ``points``, less when they were already spent.
    taken_back = models.PositiveIntegerField(default=0)
    awarded_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    actor = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel_slug", "review_id"], name="retention_review_award_once"
            ),
            check_constraint(condition=Q(points__gt=0), name="retention_review_award_positive"),
            check_constraint(
                condition=Q(taken_back__lte=F("points")),
                name="retention_review_takes_back_at_most_its_points",
            ),
        ]

    def __str__(self) -> str:
        return f"review {self.review_id}: {self.points} points"


class BirthdayGreeting(models.Model):
    """A birthday greeting (and gift) recorded for a customer's local year: once a year."""

    channel_slug = models.SlugField(max_length=255)
    customer_id = models.BigIntegerField()
    year = models.PositiveSmallIntegerField()
    tier_code = models.CharField(max_length=64, blank=True, default="")
    gift_points = models.PositiveIntegerField(default=0)
    gift_coupon = models.CharField(max_length=32, blank=True, default="")
    greeted_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel_slug", "customer_id", "year"],
                name="retention_birthday_greeting_once_a_year",
            )
        ]

    def __str__(self) -> str:
        return f"customer {self.customer_id}: birthday {self.year}"


class MemberDay(models.Model):
    """A scheduled member day of a channel (``domain.member_days``): never overlapping."""

    channel_slug = models.SlugField(max_length=255)
    name = models.CharField(max_length=255)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    multiplier = models.DecimalField(max_digits=6, decimal_places=2)
    # Tier code -> hours of early access before ``starts_at``.
    early_access_hours = models.JSONField(default=dict, blank=True)
    announce_hours = models.PositiveIntegerField(default=48)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["channel_slug", "starts_at"]
        constraints = [
            check_constraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="retention_member_day_ends_after_start",
            ),
            check_constraint(
                condition=Q(multiplier__gt=0) & Q(multiplier__lte=10),
                name="retention_member_day_multiplier_0_to_10",
            ),
        ]
        indexes = [
            models.Index(fields=["channel_slug", "ends_at"], name="retention_member_day_idx")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.channel_slug})"
