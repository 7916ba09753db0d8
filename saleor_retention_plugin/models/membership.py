"""Membership tiers, their benefits, each account's current tier and its history.

A channel's tiers are ranked; an account holds at most one ``CustomerTier`` row (its
current tier) and every change of tier is appended to ``TierChange``. Qualifying
activity (points earned and amount spent per order, net of refunds) is kept in
``QualifyingOrder`` so tiers can be re-evaluated over any window without replaying the
ledger; spending points never touches it, so spending can never cost a tier.

Names and descriptions are JSON objects of language code -> text (``{"en": "Gold",
"zh-Hans": "黄金会员"}``); ``domain.tiers.localised`` picks the best match.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from ..querysets import CustomerTierQuerySet, MembershipTierQuerySet, QualifyingOrderQuerySet
from .constraints import check_constraint
from .ledger import LoyaltyAccount


class ThresholdKind(models.TextChoices):
    POINTS_EARNED = "points_earned", "Points earned"
    AMOUNT_SPENT = "amount_spent", "Amount spent"


class MembershipTier(models.Model):
    channel_slug = models.SlugField(max_length=255)
    # Unique per channel; 0 is the entry tier. Higher ranks are better tiers.
    rank = models.PositiveSmallIntegerField()
    # Stable machine name used by storefronts for labels and CSS ("member", "silver", "gold").
    code = models.SlugField(max_length=64)
    name = models.JSONField(default=dict)
    description = models.JSONField(default=dict, blank=True)
    threshold_kind = models.CharField(
        max_length=32, choices=ThresholdKind.choices, default=ThresholdKind.POINTS_EARNED
    )
    # Points (a whole number) or money in the channel currency, depending on the kind.
    threshold_value = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    # Rolling window of qualifying activity in months; 0 means lifetime.
    window_months = models.PositiveSmallIntegerField(default=12)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MembershipTierQuerySet.as_manager()

    class Meta:
        ordering = ["channel_slug", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel_slug", "rank"], name="retention_tier_rank_unique_per_channel"
            ),
            models.UniqueConstraint(
                fields=["channel_slug", "code"], name="retention_tier_code_unique_per_channel"
            ),
            check_constraint(
                condition=Q(threshold_value__gte=0), name="retention_tier_threshold_not_negative"
            ),
            check_constraint(
                condition=Q(window_months__lte=120), name="retention_tier_window_at_most_ten_years"
            ),
            check_constraint(
                condition=Q(threshold_kind__in=ThresholdKind.values),
                name="retention_tier_threshold_kind_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel_slug}/{self.code} (rank {self.rank})"


class BenefitKind(models.TextChoices):
    PERCENTAGE_DISCOUNT = "percentage_discount", "Percentage discount"
    POINTS_MULTIPLIER = "points_multiplier", "Points multiplier"
    FREE_SHIPPING = "free_shipping", "Free shipping"
    BIRTHDAY_GIFT = "birthday_gift", "Birthday gift"
    EARLY_ACCESS = "early_access", "Early access / pre-sale priority"
    MEMBER_ONLY_PRODUCTS = "member_only_products", "Member-only products"
    PRIORITY_SERVICE = "priority_service", "Priority service"
    CUSTOM = "custom", "Custom"


class TierBenefit(models.Model):
    tier = models.ForeignKey(MembershipTier, on_delete=models.CASCADE, related_name="benefits")
    kind = models.CharField(max_length=32, choices=BenefitKind.choices)
    # The kind's number: percent off, multiplier, minimum order for free shipping,
    # birthday gift points, early-access hours. Null for kinds without a number.
    value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    # Kind-specific extras, e.g. {"product_ids": [...]} or {"collection_ids": [...]}.
    config = models.JSONField(default=dict, blank=True)
    title = models.JSONField(default=dict, blank=True)
    description = models.JSONField(default=dict, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tier_id", "position", "id"]
        constraints = [
            check_constraint(
                condition=Q(kind__in=BenefitKind.values), name="retention_benefit_kind_known"
            ),
            check_constraint(
                condition=Q(value__isnull=True) | Q(value__gte=0),
                name="retention_benefit_value_not_negative",
            ),
            check_constraint(
                condition=~Q(kind="percentage_discount") | (Q(value__gt=0) & Q(value__lte=100)),
                name="retention_benefit_percentage_within_0_100",
            ),
            check_constraint(
                condition=~Q(kind="points_multiplier") | (Q(value__gte=1) & Q(value__lte=100)),
                name="retention_benefit_multiplier_within_1_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.value or ''} on {self.tier_id}"


class CustomerTier(models.Model):
    """The account's current tier; one row per account."""

    account = models.OneToOneField(
        LoyaltyAccount, on_delete=models.CASCADE, related_name="membership"
    )
    channel_slug = models.SlugField(max_length=255)
    tier = models.ForeignKey(MembershipTier, on_delete=models.PROTECT, related_name="members")
    achieved_at = models.DateTimeField()
    # Set when a re-evaluation found the account below its tier: the downgrade happens at
    # this moment unless the account qualifies again before.
    downgrade_due_at = models.DateTimeField(null=True, blank=True)
    # The last evaluation that wrote the row: every re-evaluation, and an order only when
    # it changed what the row decides (tier, dates), so a repeat order costs no write.
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    # The next moment time alone can change the tier (a counted order leaves its window,
    # the grace period ends); the daily re-evaluation visits only accounts due by now.
    # Null: nothing changes until the account's next order.
    next_reevaluation_at = models.DateTimeField(null=True, blank=True)

    objects = CustomerTierQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["channel_slug", "tier"], name="retention_customer_tier_idx"),
            models.Index(
                fields=["downgrade_due_at"],
                condition=Q(downgrade_due_at__isnull=False),
                name="retention_downgrade_due_idx",
            ),
            models.Index(
                fields=["channel_slug", "next_reevaluation_at"],
                condition=Q(next_reevaluation_at__isnull=False),
                name="retention_reevaluation_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"account {self.account_id}: tier {self.tier_id}"


class TierChange(models.Model):
    class Reason(models.TextChoices):
        JOINED = "joined", "Joined the programme"
        QUALIFYING_ORDER = "qualifying_order", "Qualifying order"
        REEVALUATION = "reevaluation", "Periodic re-evaluation"
        THRESHOLDS_CHANGED = "thresholds_changed", "Tier thresholds changed"
        TIER_DELETED = "tier_deleted", "Tier removed"
        MANUAL = "manual", "Set by staff"

    account = models.ForeignKey(
        LoyaltyAccount, on_delete=models.CASCADE, related_name="tier_changes"
    )
    from_tier = models.ForeignKey(
        MembershipTier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_tier = models.ForeignKey(
        MembershipTier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Tier codes kept as text so the history still reads after a tier was deleted.
    from_code = models.CharField(max_length=64, blank=True, default="")
    to_code = models.CharField(max_length=64, blank=True, default="")
    reason = models.CharField(max_length=32, choices=Reason.choices)
    # The qualifying figure at the time (points or money, per the tier's threshold kind).
    qualifying_value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    changed_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(fields=["account", "-changed_at"], name="retention_tier_history_idx")
        ]

    def __str__(self) -> str:
        return f"{self.from_code or '-'} -> {self.to_code or '-'} ({self.reason})"


class QualifyingOrder(models.Model):
    """What one order counts towards tiers, net of cancellation and refunds."""

    account = models.ForeignKey(
        LoyaltyAccount, on_delete=models.CASCADE, related_name="qualifying_orders"
    )
    # Saleor order ids are UUIDs: an order counts once, for the account that holds it.
    order_id = models.CharField(max_length=64, unique=True)
    points_earned = models.BigIntegerField(default=0)
    amount_spent = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3)
    placed_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    objects = QualifyingOrderQuerySet.as_manager()

    class Meta:
        constraints = [
            check_constraint(
                condition=Q(points_earned__gte=0) & Q(amount_spent__gte=0),
                name="retention_qualifying_order_not_negative",
            ),
        ]
        indexes = [models.Index(fields=["account", "placed_at"], name="retention_qualifying_idx")]

    def __str__(self) -> str:
        return f"order {self.order_id}: {self.points_earned} points, {self.amount_spent}"


class QualifyingMonth(models.Model):
    """Kept totals of an account's qualifying orders per calendar month (UTC).

    Maintained by the database itself: triggers on ``QualifyingOrder`` (migration 0010,
    PostgreSQL) add every inserted, updated or deleted order to its month in the same
    transaction, whoever writes it. Reading an account's tier progress then sums at most
    one row per month plus the orders of the window's first, partial month, instead of
    every order (issue 12). ``retention_ledger --verify`` checks the rows against the
    orders and ``--rebuild`` recomputes them.
    """

    account = models.ForeignKey(
        LoyaltyAccount, on_delete=models.CASCADE, related_name="qualifying_months"
    )
    month = models.DateField()  # the first day of the month, UTC
    orders = models.BigIntegerField(default=0)
    points_earned = models.BigIntegerField(default=0)
    amount_spent = models.DecimalField(max_digits=18, decimal_places=2, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "month"], name="retention_qualifying_month_unique"
            ),
            check_constraint(
                condition=Q(orders__gte=0) & Q(points_earned__gte=0) & Q(amount_spent__gte=0),
                name="retention_qualifying_month_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"account {self.account_id}, {self.month:%Y-%m}: {self.orders} orders"


class CustomerProfile(models.Model):
    """What Saleor does not store about a customer: the birthday (month/day, year optional)."""

    customer_id = models.BigIntegerField(unique=True)
    birth_month = models.PositiveSmallIntegerField()
    birth_day = models.PositiveSmallIntegerField()
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)
    birthday_set_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            check_constraint(
                condition=Q(birth_month__gte=1, birth_month__lte=12),
                name="retention_birth_month_valid",
            ),
            check_constraint(
                condition=Q(birth_day__gte=1, birth_day__lte=31), name="retention_birth_day_valid"
            ),
            check_constraint(
                condition=Q(birth_year__isnull=True) | Q(birth_year__gte=1900),
                name="retention_birth_year_plausible",
            ),
        ]
        indexes = [models.Index(fields=["birth_month", "birth_day"], name="retention_birthday_idx")]

    def __str__(self) -> str:
        return f"customer {self.customer_id}: birthday {self.birth_month}/{self.birth_day}"
