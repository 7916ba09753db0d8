"""What customers did with a sent message: clicks through its tracked links, and its open.

Design. Every link a message carries (checkout, shop, product, recommendation, review,
rating; never the unsubscribe link) goes through the plugin's signed redirect
(``delivery.tracking``), which records one ``MessageClick`` row per (message, link kind,
target) with the first click's time and a count, then redirects. An open is a
``MessageOpen`` row per message: the email's 1x1 pixel, or the webhook gateway reporting
"delivered"/"opened" back (``delivery.tracking_views``). Both only ever grow: a replayed
click raises the count, a second open changes nothing. The report counts messages with
a click or an open, so scanners that fetch every link once count one click per message.

Rows hang off ``FlowMessage`` (cascade: a forgotten customer's messages take their
engagement with them). Targets are stored with their SHA-256 so the unique key stays
small whatever the URL's length.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from .constraints import check_constraint
from .flows import FlowMessage


class LinkKind(models.TextChoices):
    CHECKOUT = "checkout", "Checkout or cart"
    SHOP = "shop", "Shop"
    PRODUCT = "product", "Product"
    RECOMMENDATION = "recommendation", "Recommended product"
    REVIEW = "review", "Review"
    RATING = "rating", "Satisfaction rating"


class OpenSource(models.TextChoices):
    PIXEL = "pixel", "Email open pixel"
    WEBHOOK = "webhook", "Reported by the webhook gateway"


class MessageClick(models.Model):
    """Clicks on one link of one sent message: first click, last click, how many."""

    message = models.ForeignKey(FlowMessage, on_delete=models.CASCADE, related_name="clicks")
    link_kind = models.CharField(max_length=16, choices=LinkKind.choices)
    target = models.TextField()
    target_digest = models.CharField(max_length=64)  # sha256 hex of ``target``
    first_clicked_at = models.DateTimeField()
    last_clicked_at = models.DateTimeField()
    click_count = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "link_kind", "target_digest"],
                name="retention_one_click_row_per_link",
            ),
            check_constraint(
                condition=Q(link_kind__in=LinkKind.values), name="retention_click_kind_valid"
            ),
            check_constraint(condition=Q(click_count__gte=1), name="retention_click_counted"),
            check_constraint(
                condition=Q(last_clicked_at__gte=F("first_clicked_at")),
                name="retention_click_last_after_first",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.link_kind} click x{self.click_count} on message {self.message_id}"


class MessageOpen(models.Model):
    """A sent message's first open (and, for webhook gateways, its delivery), once each."""

    message = models.OneToOneField(
        FlowMessage, on_delete=models.CASCADE, primary_key=True, related_name="opening"
    )
    source = models.CharField(max_length=16, choices=OpenSource.choices)
    # A webhook gateway may report the delivery first and the open later (or never).
    delivered_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            check_constraint(
                condition=Q(source__in=OpenSource.values), name="retention_open_source_valid"
            ),
            check_constraint(
                condition=Q(delivered_at__isnull=False) | Q(opened_at__isnull=False),
                name="retention_open_records_something",
            ),
        ]

    def __str__(self) -> str:
        return f"message {self.message_id} opened at {self.opened_at} ({self.source})"
