"""The points ledger: the source of truth for every customer's points.

Design (after django-hordak): entries are append-only and carry every change of points
with its source; balances are derived from them. Three things are stored besides:

* ``PointsLot``: one per credit, tracking how much of that credit is left, when it becomes
  spendable and when it expires. Invariant: the lots' ``remaining`` add up to the balance
  when it is positive, and to zero when the balance is negative (a debt is repaid by the
  next credits before they become lots).
* ``LoyaltyAccount.balance``: a cached sum of the entries, updated in the same transaction
  as every entry; ``manage.py retention_ledger --verify/--rebuild`` checks and repairs it.
* ``LoyaltyAccount.lifetime_earned``: cached too, for tiers and analytics.

The database enforces what must never break: one entry per idempotency key (the same
order event, or a Celery retry, can never credit twice), entry signs per kind, and lots
that never go below zero or above what was credited. Every write locks the account row
first, so concurrent spends are serialised.

There are no foreign keys into Saleor's tables: customers are referenced by their id and
channels by slug, so the app runs (and is tested) without Saleor.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from ..querysets import LoyaltyAccountQuerySet, PointsEntryQuerySet, PointsLotQuerySet
from .constraints import check_constraint


class LoyaltyAccount(models.Model):
    channel_slug = models.SlugField(max_length=255)
    # Saleor ``account.User`` pk; null for a guest account keyed by email.
    customer_id = models.BigIntegerField(null=True, blank=True)
    # Normalised (stripped, lower-cased) email; null once the customer was anonymised.
    email = models.CharField(max_length=254, null=True, blank=True)
    balance = models.BigIntegerField(default=0)
    lifetime_earned = models.BigIntegerField(default=0)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_guests"
    )
    anonymised_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LoyaltyAccountQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel_slug", "customer_id"],
                condition=Q(customer_id__isnull=False),
                name="retention_one_account_per_customer_and_channel",
            ),
            models.UniqueConstraint(
                fields=["channel_slug", "email"],
                condition=Q(
                    customer_id__isnull=True, merged_into__isnull=True, email__isnull=False
                ),
                name="retention_one_guest_account_per_email_and_channel",
            ),
            check_constraint(
                condition=Q(customer_id__isnull=False)
                | Q(email__isnull=False)
                | Q(anonymised_at__isnull=False),
                name="retention_account_has_an_owner",
            ),
            check_constraint(
                condition=Q(lifetime_earned__gte=0), name="retention_lifetime_earned_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["email"], name="retention_account_email_idx")]

    def __str__(self) -> str:
        owner = f"customer {self.customer_id}" if self.customer_id else (self.email or "anonymised")
        return f"{owner} @ {self.channel_slug}: {self.balance} points"

    @property
    def is_guest(self) -> bool:
        return self.customer_id is None


class PointsEntry(models.Model):
    class Kind(models.TextChoices):
        EARN = "earn", "Earned"
        REDEEM = "redeem", "Redeemed"
        EXPIRE = "expire", "Expired"
        ADJUST = "adjust", "Adjusted"
        REVERSE = "reverse", "Taken back"

    account = models.ForeignKey(LoyaltyAccount, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    points = models.BigIntegerField()
    # Points that could not be taken back under the clamp-to-zero policy.
    written_off = models.BigIntegerField(default=0)
    # Unique: the same source can never change the ledger twice (events, retries).
    idempotency_key = models.CharField(max_length=200, unique=True)
    # The Saleor order this entry belongs to, if any (UUID as text).
    order_id = models.CharField(max_length=64, null=True, blank=True)
    order_number = models.CharField(max_length=64, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    # Who made a manual adjustment: "user:<id>" or "app:<id>".
    actor = models.CharField(max_length=128, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)

    objects = PointsEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            check_constraint(
                condition=~Q(points=0) | Q(written_off__gt=0),
                name="retention_entry_changes_something",
            ),
            check_constraint(
                condition=Q(written_off__gte=0), name="retention_written_off_not_negative"
            ),
            check_constraint(
                condition=(
                    Q(kind="earn", points__gt=0)
                    | Q(kind__in=["redeem", "expire"], points__lt=0)
                    | Q(kind="reverse", points__lte=0)
                    | Q(kind="adjust")
                ),
                name="retention_entry_sign_matches_kind",
            ),
        ]
        indexes = [
            models.Index(
                fields=["account", "-created_at", "-id"], name="retention_entry_history_idx"
            ),
            models.Index(fields=["order_id"], name="retention_entry_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.points:+d} ({self.idempotency_key})"


class PointsLot(models.Model):
    account = models.ForeignKey(LoyaltyAccount, on_delete=models.PROTECT, related_name="lots")
    entry = models.OneToOneField(PointsEntry, on_delete=models.PROTECT, related_name="lot")
    order_id = models.CharField(max_length=64, null=True, blank=True)
    points = models.BigIntegerField()
    remaining = models.BigIntegerField()
    available_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = PointsLotQuerySet.as_manager()

    class Meta:
        constraints = [
            check_constraint(condition=Q(points__gt=0), name="retention_lot_points_positive"),
            check_constraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=F("points")),
                name="retention_lot_remaining_within_points",
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=Q(remaining__gt=0, expires_at__isnull=False),
                name="retention_lot_expiring_idx",
            ),
            models.Index(
                fields=["account", "expires_at"],
                condition=Q(remaining__gt=0),
                name="retention_lot_open_idx",
            ),
            # The account's pending lots, for its summary (``summarise_account``).
            models.Index(
                fields=["account", "available_at"],
                condition=Q(remaining__gt=0),
                name="retention_lot_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"lot {self.pk}: {self.remaining}/{self.points}"
