"""Stopping enrolments, and naming a customer's (opt-outs, erasure, an order's stop).

Re-exported by ``services.enrolments``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Q
from django.utils import timezone

from ..domain.customers import normalise_email
from ..models import EnrolmentState, FlowEnrolment, FlowMessage, MessageState

if TYPE_CHECKING:
    from datetime import datetime


def stop_enrolments(enrolments: Any, reason: str, *, now: datetime | None = None) -> int:
    """Stop active enrolments (a queryset) and cancel their waiting messages; returns how many."""
    ids = list(enrolments.filter(state=EnrolmentState.ACTIVE).values_list("pk", flat=True))
    return stop_enrolment_ids(ids, reason, now=now)


def stop_enrolment_ids(ids: list[int], reason: str, *, now: datetime | None = None) -> int:
    """``stop_enrolments`` for enrolments the caller read active; returns how many.

    No statement when ``ids`` is empty.
    """
    now = now or timezone.now()
    FlowEnrolment.objects.filter(pk__in=ids).update(
        state=EnrolmentState.STOPPED,
        stop_reason=reason,
        stopped_at=now,
        next_check_at=None,
        updated_at=now,
    )
    FlowMessage.objects.waiting().filter(enrolment_id__in=ids).update(
        state=MessageState.CANCELLED, cancel_reason=reason, updated_at=now
    )
    return len(ids)


def naming(customer_id: int | None, email: str | None) -> Q:
    """Enrolments of this customer: by id, or by (normalised) email; none when neither."""
    email = normalise_email(email)
    who = Q(pk__in=[])
    if customer_id is not None:
        who |= Q(customer_id=customer_id)
    if email:
        who |= Q(email=email)
    return who
