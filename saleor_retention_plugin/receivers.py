"""Receivers connected when the app is ready: the services' signals and the user model.

Services announce what happened with signals and never enqueue Celery tasks themselves;
the tasks they call for are connected here.

Saleor dispatches its channel-less hooks (``customer_created``, ``customer_deleted``,
``account_deleted``) only to the per-channel plugin instances its manager has already
loaded, which can be none. The user model's own signals fire on every create and delete,
so they guarantee that guest points are merged and deleted customers are anonymised; the
plugin hooks enqueue the same idempotent tasks.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from .domain.customers import normalise_email
from .enqueue import enqueue_after_commit

logger = logging.getLogger(__name__)


def enqueue_guest_merge(customer_id: int, email: str | None) -> None:
    """After commit, fold the email's guest points and guest orders into the customer.

    One query (two indexed lookups): is there an open guest account, or a guest order in
    the purchase history (a backfill without ``--credit-points`` leaves guest orders with
    no account), under that email?
    """
    from .models import LoyaltyAccount, PurchasedOrder
    from .tasks import merge_guest_accounts_task

    normalised = normalise_email(email)
    if not normalised:
        return
    guest_accounts = LoyaltyAccount.objects.open_guests_with_email(normalised).values_list("pk")
    guest_orders = PurchasedOrder.objects.filter(
        customer_id__isnull=True, email=normalised
    ).values_list("pk")
    if not list(guest_accounts.union(guest_orders)[:1]):
        return
    enqueue_after_commit(merge_guest_accounts_task, customer_id, normalised)


def enqueue_anonymisation(customer_id: int | None, email: str | None) -> None:
    from .tasks import anonymise_customer_task

    if customer_id is None:
        return
    normalised = normalise_email(email) or ""
    enqueue_after_commit(anonymise_customer_task, customer_id, normalised)


def enqueue_tier_reevaluation(
    sender: Any, *, channel_slug: str, reason: str, **kwargs: Any
) -> None:
    """``tier_thresholds_changed``: re-evaluate the channel's accounts in Celery."""
    from .tasks import reevaluate_tiers_task

    enqueue_after_commit(reevaluate_tiers_task, channel_slug, reason)


def enqueue_tier_changed_event(
    sender: Any,
    *,
    channel_slug: str,
    customer_id: int | None,
    change_id: int,
    from_tier: str,
    to_tier: str,
    reason: str,
    **kwargs: Any,
) -> None:
    """``tier_changed``: hand the change to the flows that start from it, in Celery."""
    from .services.flow_events import TIER_CHANGED, FlowEvent, enrolment_flows
    from .tasks import publish_flow_event_task

    if customer_id is None or not enrolment_flows(TIER_CHANGED):
        return
    event = FlowEvent(
        name=TIER_CHANGED,
        channel_slug=channel_slug,
        occurred_at=timezone.now(),
        customer_id=customer_id,
        data={"from_tier": from_tier, "to_tier": to_tier, "reason": reason, "change_id": change_id},
    )
    enqueue_after_commit(publish_flow_event_task, event.to_json())


def connect_service_receivers() -> None:
    """Services announce with signals; the Celery work they call for is connected here."""
    from . import signals

    signals.tier_thresholds_changed.connect(
        enqueue_tier_reevaluation, dispatch_uid="retention_tier_reevaluation"
    )
    signals.tier_changed.connect(
        enqueue_tier_changed_event, dispatch_uid="retention_tier_changed_flows"
    )


def customer_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """Merge guest points once the customer has proved the email is theirs.

    Saleor creates registrations unconfirmed when the shop asks for email confirmation
    and saves ``is_confirmed`` alone when the link is followed (or a password is set from
    an emailed token). A user model without ``is_confirmed`` counts as confirmed.
    """
    if kwargs.get("raw") or not getattr(instance, "is_confirmed", True):
        return
    update_fields = kwargs.get("update_fields")
    just_confirmed = update_fields is not None and "is_confirmed" in update_fields
    if not (created or just_confirmed):
        return
    try:
        enqueue_guest_merge(instance.pk, getattr(instance, "email", None))
    except Exception:
        logger.exception("Could not enqueue the guest points merge of customer %s", instance.pk)


def customer_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    try:
        enqueue_anonymisation(instance.pk, getattr(instance, "email", None))
    except Exception:
        logger.exception("Could not enqueue the anonymisation of customer %s", instance.pk)


def connect_customer_receivers() -> None:
    user_model = get_user_model()
    post_save.connect(customer_saved, sender=user_model, dispatch_uid="retention_customer_saved")
    post_delete.connect(
        customer_deleted, sender=user_model, dispatch_uid="retention_customer_deleted"
    )
