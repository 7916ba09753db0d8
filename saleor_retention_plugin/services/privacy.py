"""Forgetting a customer across every part of the plugin."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ..models import FlowEnrolment
from . import carts, ledger, purchase_history, tiers
from .enrolments import naming, stop_enrolments


def anonymise_customer_everywhere(customer_id: int, email: str | None) -> int:
    """Remove the customer's email and identity from all loyalty data; keep the totals.

    Every area of the plugin that stores personal data adds its step here, inside the
    same transaction. Returns how many loyalty accounts were anonymised.
    """
    with transaction.atomic():
        tiers.anonymise_membership(customer_id)  # the birthday
        # Carts, reminders and the contact log; opt-outs keep only a digest and stay.
        carts.anonymise_carts(customer_id, email)
        anonymise_enrolments(customer_id, email)
        # Orders stay for totals under a random key; who placed them is forgotten.
        purchase_history.anonymise_purchases(customer_id, email)
        return ledger.anonymise_customer(customer_id, email)


def anonymise_enrolments(customer_id: int | None, email: str | None) -> int:
    """Stop the customer's enrolments (``customer_deleted``) and forget who they were.

    Conversions stay for the totals. Returns how many enrolments named the customer.
    """
    named = FlowEnrolment.objects.filter(naming(customer_id, email))
    stop_enrolments(named, "customer_deleted")
    return named.update(customer_id=None, email=None, data={}, updated_at=timezone.now())
