"""The points mall: a catalogue of rewards per channel and the redemptions of them.

A redemption is written in the same transaction as the points it costs (a ``redeem``
entry of the ledger) and the code it issued, so there is never a code without paid
points nor paid points without a code. Stock and the per-customer limit are checked
while the reward row is locked; the database adds its own guard rails (stock never
negative, one redemption per idempotency key, one redemption per ledger entry).

Prize draws are auditable: ``Reward.draw_seed_hash`` (SHA-256 of the secret seed) is
public from the moment the reward exists, and each redemption stores the inputs of its
draw, so anyone given the seed later can re-derive every outcome (``domain.draws``).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from ..querysets import RedemptionQuerySet, RewardQuerySet
from .constraints import check_constraint
from .ledger import LoyaltyAccount, PointsEntry


class RewardKind(models.TextChoices):
    FIXED_DISCOUNT = "fixed_discount", "Fixed amount off"
    PERCENTAGE_DISCOUNT = "percentage_discount", "Percentage off"
    FREE_SHIPPING = "free_shipping", "Free shipping"
    GIFT_PRODUCT = "gift_product", "Gift product"
    PRIZE_DRAW = "prize_draw", "Prize draw entry"


class Reward(models.Model):
    channel_slug = models.SlugField(max_length=255)
    kind = models.CharField(max_length=32, choices=RewardKind.choices)
    name = models.JSONField(default=dict)
    description = models.JSONField(default=dict, blank=True)
    points_cost = models.PositiveIntegerField()
    # Amount off (channel currency) or percent off; null for free shipping, gifts and draws.
    discount_value = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # The order must reach this subtotal for the code to apply (Saleor's min_spent).
    min_order_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # Saleor product (gift) as its numeric id or global id; kept as text, no FK into Saleor.
    gift_product_id = models.CharField(max_length=64, blank=True, default="")
    # Null means unlimited.
    stock = models.IntegerField(null=True, blank=True)
    # Null means unlimited.
    per_customer_limit = models.PositiveIntegerField(null=True, blank=True)
    active_from = models.DateTimeField(null=True, blank=True)
    active_until = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    # Days an issued code stays valid; null uses the channel setting.
    code_validity_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # Prize draws only: [{"code", "name": {lang: text}, "probability": "0.05",
    # "kind": fixed_discount|percentage_discount|free_shipping|gift_product,
    # "discount_value", "gift_product_id", "quantity" (null: unlimited)}, ...].
    # Probabilities add up to at most 1; the rest is "no prize".
    draw_prizes = models.JSONField(default=list, blank=True)
    # Secret until the merchant publishes it; its SHA-256 is public from the start.
    draw_seed = models.CharField(max_length=128, blank=True, default="")
    draw_seed_hash = models.CharField(max_length=64, blank=True, default="")
    # Prizes already won per prize code, to honour quantities.
    draw_prizes_won = models.JSONField(default=dict, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RewardQuerySet.as_manager()

    class Meta:
        ordering = ["channel_slug", "position", "points_cost", "id"]
        constraints = [
            check_constraint(condition=Q(points_cost__gt=0), name="retention_reward_cost_positive"),
            check_constraint(
                condition=Q(stock__isnull=True) | Q(stock__gte=0),
                name="retention_reward_stock_not_negative",
            ),
            check_constraint(
                condition=Q(per_customer_limit__isnull=True) | Q(per_customer_limit__gt=0),
                name="retention_reward_limit_positive",
            ),
            check_constraint(
                condition=Q(kind__in=RewardKind.values), name="retention_reward_kind_known"
            ),
            check_constraint(
                condition=Q(discount_value__isnull=True) | Q(discount_value__gt=0),
                name="retention_reward_discount_positive",
            ),
            check_constraint(
                condition=~Q(kind="percentage_discount")
                | (Q(discount_value__isnull=False) & Q(discount_value__lte=100)),
                name="retention_reward_percentage_within_100",
            ),
            check_constraint(
                condition=~Q(kind="fixed_discount") | Q(discount_value__isnull=False),
                name="retention_reward_fixed_discount_has_value",
            ),
            check_constraint(
                condition=Q(active_from__isnull=True)
                | Q(active_until__isnull=True)
                | Q(active_until__gt=F("active_from")),
                name="retention_reward_window_ordered",
            ),
        ]
        indexes = [models.Index(fields=["channel_slug", "is_active"], name="retention_reward_idx")]

    def __str__(self) -> str:
        return f"{self.channel_slug}: {self.kind} for {self.points_cost} points"


class Redemption(models.Model):
    class Status(models.TextChoices):
        ISSUED = "issued", "Code issued"
        USED = "used", "Code used"
        EXPIRED = "expired", "Expired unused"
        REFUNDED = "refunded", "Expired unused, points given back"
        NO_PRIZE = "no_prize", "Draw entry without a prize"

    account = models.ForeignKey(
        LoyaltyAccount, on_delete=models.PROTECT, related_name="redemptions"
    )
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="redemptions")
    channel_slug = models.SlugField(max_length=255)
    points_entry = models.OneToOneField(
        PointsEntry, on_delete=models.PROTECT, related_name="redemption"
    )
    points_spent = models.PositiveIntegerField()
    # Unique per account: a retried request finds the first redemption instead of a second.
    idempotency_key = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ISSUED)
    code = models.CharField(max_length=64, null=True, blank=True, unique=True)
    # Which issuer made the code ("plain", "saleor_voucher") and its reference there.
    issuer = models.CharField(max_length=32, blank=True, default="")
    issuer_reference = models.CharField(max_length=64, blank=True, default="")
    # What was issued: the reward itself or, for a draw, the prize won (snapshot).
    issued_kind = models.CharField(max_length=32, blank=True, default="")
    issued_value = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # The merchant's "give points back for expired codes" choice at the time of redeeming.
    refund_on_expiry = models.BooleanField(default=False)
    refund_entry = models.OneToOneField(
        PointsEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Prize draws: seed hash, nonce, odds snapshot, roll and outcome (see domain.draws).
    draw_audit = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RedemptionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "idempotency_key"], name="retention_redemption_once_per_key"
            ),
            check_constraint(
                condition=Q(points_spent__gt=0), name="retention_redemption_spent_positive"
            ),
            check_constraint(
                condition=Q(status="no_prize") | Q(code__isnull=False),
                name="retention_redemption_issued_has_code",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "reward"], name="retention_redeem_limit_idx"),
            models.Index(
                fields=["expires_at"],
                condition=Q(status="issued", expires_at__isnull=False),
                name="retention_code_expiry_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"redemption {self.pk}: {self.status}"
