"""The flow engine's tables: tracked carts, the message outbox, opt-outs, contact log.

Design. A *flow* (the cart series first; welcome, win-back... later) turns a subject (a
cart, a customer) into numbered steps. Each step that is due becomes exactly one
``FlowMessage`` row (unique per subject, flow and step), the outbox. Workers claim a row
atomically (``scheduled``/``deferred`` -> ``claimed`` with a fresh claim token), check
every stop condition again, send it with an idempotency key derived from the row, and
mark it ``sent``. A worker that dies after claiming leaves a ``claimed`` row behind. If it
died before the send started (``send_started_at`` empty), the row is taken over as soon as
the worker's short lease lapses; if the send had started, the message may have reached the
recipient, and the row waits the long claim timeout before it is sent again with the same
idempotency key (see ``services.flows``). So a message is never lost and never written
twice; a crash in the tiny window after the channel accepted a message and before the row
is marked sent is covered by the channel's own idempotency key where it has one.

``TrackedCart`` rows are written by the checkout hooks with a single upsert (token,
channel, contact, language, last activity) that also writes the cart's ``FlowEnrolment``
(flow ``cart``): its series is scheduled by the engine like every flow's, through the
enrolments' partial due index, so the sweep's cost grows with the carts that are due,
not with the carts tracked.

Customers are referenced by id and channels by slug, never by foreign keys into Saleor.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from ..querysets import FlowMessageQuerySet, TrackedCartQuerySet
from .constraints import check_constraint
from .enrolments import FlowEnrolment


class CartState(models.TextChoices):
    """The cart's own status (its reminder series lives on its ``FlowEnrolment``)."""

    OPEN = "open", "Open"  # a checkout in the shop, not an order (yet)
    CONVERTED = "converted", "Became an order"
    # Its customer was deleted: forgotten, and never tracked or reminded again.
    FORGOTTEN = "forgotten", "Customer forgotten"


class TrackedCart(models.Model):
    """A checkout's own facts: who, where, when last touched, what it holds, how it ended.

    The reminder series (next step, next check, holdout, failures, stop reason) is the
    cart's ``FlowEnrolment`` (flow ``cart``, subject ``cart:<token>``, ``enrolments``),
    written by the same upsert as this row.
    """

    checkout_token = models.UUIDField(unique=True)
    channel_slug = models.SlugField(max_length=255)
    customer_id = models.BigIntegerField(null=True, blank=True)
    # Normalised email (domain.customers.normalise_email); null for carts without one.
    email = models.CharField(max_length=254, null=True, blank=True)
    language_code = models.CharField(max_length=35, default="en")
    currency = models.CharField(max_length=3, blank=True, default="")
    # IANA zone of the customer when known (from the shipping address); else the shop's.
    timezone = models.CharField(max_length=64, blank=True, default="")
    last_activity_at = models.DateTimeField()

    # Snapshot of the lines, written by a task (never by the checkout hook).
    line_count = models.PositiveIntegerField(null=True, blank=True)
    lines = models.JSONField(default=list, blank=True)
    total_amount = models.DecimalField(max_digits=20, decimal_places=3, null=True, blank=True)
    contents_refreshed_at = models.DateTimeField(null=True, blank=True)

    state = models.CharField(max_length=16, choices=CartState.choices, default=CartState.OPEN)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TrackedCartQuerySet.as_manager()

    class Meta:
        constraints = [
            check_constraint(
                condition=Q(state__in=CartState.values), name="retention_cart_state_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["channel_slug", "customer_id"], name="retention_cart_customer_idx"
            ),
            models.Index(fields=["channel_slug", "email"], name="retention_cart_email_idx"),
        ]

    def __str__(self) -> str:
        return f"cart {self.checkout_token} @ {self.channel_slug} ({self.state})"


class MessageState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    DEFERRED = "deferred", "Deferred (quiet hours, frequency cap or a retry)"
    CLAIMED = "claimed", "Claimed by a worker"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed for good"
    CANCELLED = "cancelled", "Cancelled (a stop condition held)"


WAITING_STATES = (MessageState.SCHEDULED, MessageState.DEFERRED)


class FlowMessage(models.Model):
    """The outbox: one row per (subject, flow, step), sent at most once."""

    flow = models.CharField(max_length=64)
    # What the flow is about: the checkout token for cart reminders, "enrolment:<id>" for
    # the other flows; unique with the flow and step (one message per step, ever).
    subject_key = models.CharField(max_length=128)
    step = models.PositiveSmallIntegerField()
    # The enrolment whose step this is (every flow on the enrolment scheduler).
    enrolment = models.ForeignKey(
        FlowEnrolment, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    channel_slug = models.SlugField(max_length=255)
    customer_id = models.BigIntegerField(null=True, blank=True)
    recipient_email = models.CharField(max_length=254, null=True, blank=True)
    language_code = models.CharField(max_length=35, default="en")

    state = models.CharField(
        max_length=16, choices=MessageState.choices, default=MessageState.SCHEDULED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The worker holding the claim ("host:pid") and until when its claim stands while
    # nothing was sent yet; a live worker renews it (``services.flows.renew_leases``).
    claimed_by = models.CharField(max_length=128, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Committed just before the send starts: a claimed row with it set may have reached
    # the recipient (in doubt), one without it certainly has not.
    send_started_at = models.DateTimeField(null=True, blank=True)
    # Stable for the row's whole life: every retry of the same message carries the same key.
    idempotency_key = models.CharField(max_length=128, unique=True)
    # Cart reminders: the cart's last activity when this step was scheduled (newer
    # activity re-times it).
    scheduled_for_activity_at = models.DateTimeField(null=True, blank=True)
    coupon_code = models.CharField(max_length=64, null=True, blank=True)
    context = models.JSONField(default=dict, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivery_channel = models.CharField(max_length=32, blank=True, default="")
    provider_message_id = models.CharField(max_length=255, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    # When delivery first failed (a transient error, a crashed worker): retries go on
    # until a time limit after it, however many attempts that takes.
    first_failed_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FlowMessageQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subject_key", "flow", "step"], name="retention_one_message_per_step"
            ),
            check_constraint(
                condition=Q(state__in=MessageState.values), name="retention_message_state_valid"
            ),
            check_constraint(condition=Q(step__gte=1), name="retention_message_step_from_one"),
            check_constraint(
                condition=~Q(state__in=WAITING_STATES) | Q(next_attempt_at__isnull=False),
                name="retention_waiting_message_has_a_time",
            ),
            check_constraint(
                condition=~Q(state=MessageState.CLAIMED)
                | Q(claim_token__isnull=False, claimed_at__isnull=False),
                name="retention_claimed_message_has_a_claim",
            ),
            check_constraint(
                condition=~Q(state=MessageState.SENT) | Q(sent_at__isnull=False),
                name="retention_sent_message_has_sent_at",
            ),
            check_constraint(
                condition=~Q(state=MessageState.CANCELLED) | ~Q(cancel_reason=""),
                name="retention_cancelled_message_has_a_reason",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state__in=WAITING_STATES),
                name="retention_message_due_idx",
            ),
            models.Index(
                fields=["claimed_at"],
                condition=Q(state=MessageState.CLAIMED),
                name="retention_message_claimed_idx",
            ),
            # Claims whose worker died before sending: taken over once the lease lapsed.
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(state=MessageState.CLAIMED, send_started_at__isnull=True),
                name="retention_message_lease_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.flow} step {self.step} for {self.subject_key} ({self.state})"


class MarketingOptOut(models.Model):
    """A customer who unsubscribed from the plugin's marketing messages in a channel.

    Emails are kept only as a SHA-256 digest of the normalised address: enough to honour
    the opt-out, nothing to leak or to mail.
    """

    channel_slug = models.SlugField(max_length=255)
    customer_id = models.BigIntegerField(null=True, blank=True)
    email_digest = models.CharField(max_length=64, null=True, blank=True)
    source = models.CharField(max_length=64, default="unsubscribe_link")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel_slug", "customer_id"],
                condition=Q(customer_id__isnull=False),
                name="retention_one_opt_out_per_customer",
            ),
            models.UniqueConstraint(
                fields=["channel_slug", "email_digest"],
                condition=Q(email_digest__isnull=False),
                name="retention_one_opt_out_per_email",
            ),
            check_constraint(
                condition=Q(customer_id__isnull=False) | Q(email_digest__isnull=False),
                name="retention_opt_out_names_someone",
            ),
        ]
        # An opt-out covers every channel: look-ups by customer or email alone
        # (``consent.is_opted_out``, a campaign's batches) seek these.
        indexes = [
            models.Index(
                fields=["customer_id"],
                condition=Q(customer_id__isnull=False),
                name="retention_optout_customer_idx",
            ),
            models.Index(
                fields=["email_digest"],
                condition=Q(email_digest__isnull=False),
                name="retention_optout_email_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"opt-out @ {self.channel_slug} ({self.source})"


class ContactLogEntry(models.Model):
    """Every marketing message the plugin sent (or is sending), for the frequency cap.

    Keyed by recipient (``customer:<id>`` and ``email:<digest>``) across channels and flows.
    A message to a signed-in customer with an email is recorded under both keys, so the
    same person shopping as a guest is capped too. One row per (message, key), so a retried
    send does not count twice.
    """

    recipient_key = models.CharField(max_length=128)
    message = models.ForeignKey(FlowMessage, on_delete=models.CASCADE, related_name="contacts")
    flow = models.CharField(max_length=64)
    contacted_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "recipient_key"], name="retention_one_contact_per_key"
            )
        ]
        indexes = [
            models.Index(
                fields=["recipient_key", "-contacted_at"], name="retention_contact_recent_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.flow} to {self.recipient_key} at {self.contacted_at:%Y-%m-%d %H:%M}"
