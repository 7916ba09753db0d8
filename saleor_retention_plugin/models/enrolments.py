"""The flow engine's scheduling tables: who is in which flow, and what it brought.

``FlowEnrolment``: one row per flow and subject (a customer, an order, a cart, a
customer and product) and *cycle* (a flow that may run again for the same subject, such
as a yearly birthday, numbers its runs; most flows use cycle 1 for ever). It holds the
moment the flow counts from (``anchor_at``), the next step, when the scheduler should
look again (``next_check_at``: the only column the sweep searches, through a partial
index over active rows, so the sweep's cost follows what is due), the holdout group,
the failure count and stop reason. The unique (flow, channel, subject, cycle) makes an
event delivered twice enrol once.

``FlowConversion``: an order attributed to an enrolment (at most one per enrolment),
with its revenue, the last step sent before it (none for the holdout) and how it was
attributed. Every flow's uplift is read from here.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from .constraints import check_constraint


class SubjectKind(models.TextChoices):
    CUSTOMER = "customer", "A customer"
    ORDER = "order", "An order"
    CART = "cart", "A cart"
    CUSTOMER_PRODUCT = "customer_product", "A customer and a product"


class EnrolmentState(models.TextChoices):
    ACTIVE = "active", "Active"  # the scheduler may look at it
    COMPLETED = "completed", "Every step done"
    STOPPED = "stopped", "Stopped (see stop_reason)"


# Not stopped: the scheduler may still look at it, or it sent every step (a cart's series
# is still "open" then: new activity or an order may still end or restart it).
RUNNING_STATES = (EnrolmentState.ACTIVE, EnrolmentState.COMPLETED)


class FlowEnrolment(models.Model):
    flow = models.CharField(max_length=64)
    channel_slug = models.SlugField(max_length=255)
    subject_kind = models.CharField(max_length=16, choices=SubjectKind.choices)
    # "customer:42", "order:<id>", "cart:<token>", "customer:42:product:<key>"
    subject_key = models.CharField(max_length=191)
    cycle = models.PositiveIntegerField(default=1)
    customer_id = models.BigIntegerField(null=True, blank=True)
    # Normalised email (domain.customers.normalise_email); null when unknown.
    email = models.CharField(max_length=254, null=True, blank=True)
    language_code = models.CharField(max_length=35, default="en")
    # The moment the flow's step delays count from (first order, fulfilment, expiry...).
    anchor_at = models.DateTimeField()
    # Whatever the flow keeps about the subject (order id, tier codes, points...), JSON.
    data = models.JSONField(default=dict, blank=True)
    # Subject kind cart: the tracked cart (its lines, contact, last activity), so the
    # cart's facts join in SQL; null for every other kind.
    cart = models.ForeignKey(
        "TrackedCart",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="enrolments",
    )

    state = models.CharField(
        max_length=16, choices=EnrolmentState.choices, default=EnrolmentState.ACTIVE
    )
    next_step = models.PositiveSmallIntegerField(default=1)
    next_check_at = models.DateTimeField(null=True, blank=True)
    is_holdout = models.BooleanField(default=False)
    variant = models.CharField(max_length=16, blank=True, default="")
    # Holdout enrolments: when their first message would have gone out, where their
    # attribution window opens (sent ones open at their first message's ``sent_at``).
    window_opens_at = models.DateTimeField(null=True, blank=True)
    # Scheduler runs in a row that failed on this enrolment: each pushes the next check back.
    failures = models.PositiveSmallIntegerField(default=0)
    # The sweep that holds it (a lease: ``next_check_at`` is moved to its end meanwhile).
    leased_by = models.CharField(max_length=128, blank=True, default="")
    stop_reason = models.CharField(max_length=64, blank=True, default="")
    stopped_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "channel_slug", "subject_key", "cycle"],
                name="retention_one_enrolment_per_subject",
            ),
            check_constraint(
                condition=Q(state__in=EnrolmentState.values),
                name="retention_enrolment_state_valid",
            ),
            check_constraint(
                condition=Q(subject_kind__in=SubjectKind.values),
                name="retention_enrolment_subject_kind_valid",
            ),
            check_constraint(
                condition=Q(next_step__gte=1), name="retention_enrolment_step_from_one"
            ),
            check_constraint(condition=Q(cycle__gte=1), name="retention_enrolment_cycle_from_one"),
            check_constraint(
                condition=Q(subject_kind=SubjectKind.CART) | Q(cart__isnull=True),
                name="retention_enrolment_only_carts_name_a_cart",
            ),
            # Only an active enrolment is ever looked at by the scheduler again.
            check_constraint(
                condition=Q(state=EnrolmentState.ACTIVE) | Q(next_check_at__isnull=True),
                name="retention_enrolment_only_active_is_due",
            ),
            check_constraint(
                condition=~Q(state=EnrolmentState.STOPPED) | ~Q(stop_reason=""),
                name="retention_enrolment_stopped_with_a_reason",
            ),
        ]
        indexes = [
            models.Index(
                fields=["flow", "next_check_at"],
                condition=Q(state=EnrolmentState.ACTIVE, next_check_at__isnull=False),
                name="retention_enrol_due_idx",
            ),
            models.Index(
                fields=["channel_slug", "customer_id"], name="retention_enrol_customer_idx"
            ),
            models.Index(fields=["channel_slug", "email"], name="retention_enrol_email_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.flow} for {self.subject_key} @ {self.channel_slug} ({self.state})"


class FlowConversion(models.Model):
    """An order attributed to a flow's enrolment (at most one per enrolment).

    The window opens at the enrolment's first message sent (for the holdout: when it
    would have gone out) and lasts the messaging settings' attribution window, the same
    for both groups. ``step`` is the last step sent before the order (none in the holdout).
    """

    class Via(models.TextChoices):
        SUBJECT = "subject", "The subject itself converted (the cart was completed)"
        SAME_CUSTOMER = "same_customer", "The same customer ordered within the window"

    enrolment = models.OneToOneField(
        FlowEnrolment, on_delete=models.CASCADE, related_name="conversion"
    )
    flow = models.CharField(max_length=64)
    channel_slug = models.SlugField(max_length=255)
    order_id = models.CharField(max_length=64)
    revenue = models.DecimalField(max_digits=20, decimal_places=3)
    currency = models.CharField(max_length=3)
    step = models.PositiveSmallIntegerField(null=True, blank=True)
    is_holdout = models.BooleanField()
    variant = models.CharField(max_length=16, blank=True, default="")
    via = models.CharField(max_length=16, choices=Via.choices)
    converted_at = models.DateTimeField()

    class Meta:
        constraints = [
            check_constraint(
                condition=Q(revenue__gte=0), name="retention_conversion_revenue_not_negative"
            ),
            check_constraint(
                condition=Q(is_holdout=False) | Q(step__isnull=True),
                name="retention_holdout_conversion_has_no_step",
            ),
        ]
        indexes = [
            models.Index(
                fields=["flow", "channel_slug", "converted_at"], name="retention_conversion_idx"
            ),
            models.Index(fields=["order_id"], name="retention_convert_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.flow} enrolment {self.enrolment_id} converted by order {self.order_id}"
