"""Staff campaigns: a one-off message to a stored segment, sent through the flow engine.

A ``Campaign`` is scheduled by staff (``services.campaigns``) and sent by the
``campaign`` flow (``services.campaign_flow``): one ``FlowEnrolment`` per recipient with
``cycle`` = the campaign's id, so the outbox, cap, quiet hours, opt-out, holdout and
``FlowConversion`` attribution are the engine's. ``send_on`` + ``send_time`` is a wall
time, reached in each recipient's own zone.

States: ``scheduled`` (editable by cancel only) -> ``sending`` (recipients are being or
have been enrolled) -> ``sent`` (every recipient's moment has passed); ``cancelled``
from ``scheduled``, or from ``sending`` while nothing has gone out.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from .constraints import check_constraint


class CampaignState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    CANCELLED = "cancelled", "Cancelled"


class Campaign(models.Model):
    channel_slug = models.SlugField(max_length=255)
    name = models.CharField(max_length=255)
    # A name of ``selectors.segments.customers_in_segment`` (new, high_value, rfm:5**...).
    segment = models.CharField(max_length=32)
    # "email" today: the channel's delivery channel sends it.
    channel = models.CharField(max_length=16, default="email")
    send_on = models.DateField()
    send_time = models.TimeField()
    # custom (subject/body below) or a built-in kind: new_arrivals, clearance, festival_greeting.
    template = models.CharField(max_length=32)
    # Language code -> merchant text ({"en": ..., "zh-Hans": ...}); variables as {points}.
    subject = models.JSONField(default=dict, blank=True)
    body = models.JSONField(default=dict, blank=True)
    # "10%" or "5" (a fixed amount); "" for none. A single-use Saleor voucher per recipient.
    coupon_discount = models.CharField(max_length=16, blank=True, default="")
    coupon_valid_days = models.PositiveSmallIntegerField(default=14)
    holdout_percent = models.DecimalField(max_digits=5, decimal_places=2)
    # The second variant's overrides ({"subject": {...}, "coupon_discount": "15%"}); {} for one.
    variant_b = models.JSONField(default=dict, blank=True)
    state = models.CharField(
        max_length=16, choices=CampaignState.choices, default=CampaignState.SCHEDULED
    )
    # Enrolment progress: the last segment row's customer key enrolled, and whether all are.
    enrolled_through = models.CharField(max_length=300, blank=True, default="")
    enrolment_done = models.BooleanField(default=False)
    enrolled = models.PositiveIntegerField(default=0)
    created_by = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            check_constraint(
                condition=Q(state__in=CampaignState.values), name="retention_campaign_state_valid"
            ),
            check_constraint(
                condition=Q(holdout_percent__gte=0) & Q(holdout_percent__lte=50),
                name="retention_campaign_holdout_0_to_50",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "send_on"], name="retention_campaign_due_idx"),
            models.Index(fields=["channel_slug", "send_on"], name="retention_campaign_chan_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} to {self.segment} @ {self.channel_slug} ({self.state})"
