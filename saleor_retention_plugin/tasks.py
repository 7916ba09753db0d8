"""Celery tasks: JSON-native arguments, thin, idempotent.

Each task parses its arguments into domain values and calls one service. Retrying is
safe because every ledger effect is keyed by a unique idempotency key; only transient
database errors (lost connections, serialisation failures, deadlocks) are retried, with
exponential backoff.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from . import app_settings
from .conf import ChannelSettings, stored_settings
from .domain.orders import OrderSnapshot
from .enqueue import coalesced_enqueues
from .integrations.saleor.compat import RetentionTask
from .services import ledger, mall, tiers

logger = logging.getLogger(__name__)

TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_POLICY: dict[str, Any] = {
    # Saleor >= 3.21 makes its writer-restricting task class the default: see compat.
    "base": RetentionTask,
    "autoretry_for": TRANSIENT_DATABASE_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(name="saleor_retention_plugin.tasks.sync_order_points_task", **RETRY_POLICY)
def sync_order_points_task(order: dict[str, Any], configuration: dict[str, Any]) -> dict[str, Any]:
    """Apply an order snapshot (JSON) through the order intake; any event, any order.

    Its callers (the sandbox, a headless shop) report the order to the cart flows
    themselves with ``record_order_for_carts_task``, so carts are left to them here.
    """
    from .services.order_intake import apply_order

    settings = stored_settings(configuration)
    snapshot = OrderSnapshot.from_json(order)
    with coalesced_enqueues():
        return apply_order(snapshot, settings, skip=frozenset({"carts"})).to_json()


@shared_task(name="saleor_retention_plugin.tasks.sync_saleor_order_points_task", **RETRY_POLICY)
def sync_saleor_order_points_task(order_id: str, configuration: dict[str, Any]) -> dict[str, Any]:
    """Read a Saleor order as it stands now and apply it through the order intake.

    The one task of every order hook. Runs in Saleor's worker; reading the order here
    instead of in the hook keeps the customer's request free of the refund and payment
    queries.
    """
    settings = stored_settings(configuration)
    return apply_saleor_order(order_id, settings)


def apply_saleor_order(order_id: str, settings: ChannelSettings) -> dict[str, Any]:
    """Read the Saleor order once (lines and refunds prefetched) and apply it.

    The follow-up tasks the intake's commit calls for (the metadata mirror, asked for by
    both the ledger and a tier change) go out once each, after it.
    """
    from .integrations.saleor.orders import load_order_snapshot
    from .services.order_intake import apply_order

    snapshot = load_order_snapshot(order_id)
    if snapshot is None:
        logger.warning("Order %s no longer exists; nothing changed", order_id)
        return {"order_id": order_id, "skipped_reason": "order not found"}
    with coalesced_enqueues():
        return apply_order(snapshot, settings).to_json()


# Longer than the schedule's period, so a broker outage shorter than the difference
# loses nothing: the first run after it looks back over the outage.
RECONCILE_WINDOW = timedelta(hours=3)


@shared_task(name="saleor_retention_plugin.tasks.reconcile_recent_orders_task", **RETRY_POLICY)
def reconcile_recent_orders_task() -> dict[str, int]:
    """Bring every recently changed order of an active channel in line with the ledger.

    A hook whose task was lost (the broker was down when Saleor committed) is made good
    here even when no later event of that order comes. Each sync is idempotent, so orders
    already in line change nothing; the cost follows the orders changed in the window.
    """
    if not app_settings.SALEOR_INSTALLED:
        return {"orders": 0, "failed": 0}
    from .integrations.saleor.orders import orders_updated_since

    report = {"orders": 0, "failed": 0}
    settings_by_channel: dict[str, ChannelSettings] = {}
    for order_id, channel_slug in orders_updated_since(timezone.now() - RECONCILE_WINDOW):
        if channel_slug not in settings_by_channel:
            settings_by_channel[channel_slug] = channel_settings(channel_slug)
        try:
            apply_saleor_order(order_id, settings_by_channel[channel_slug])
        except Exception:
            # One bad order must not stop the others; its next change brings it back.
            logger.exception("Could not reconcile the points of order %s", order_id)
            report["failed"] += 1
        report["orders"] += 1
    return report


@shared_task(name="saleor_retention_plugin.tasks.merge_guest_accounts_task", **RETRY_POLICY)
def merge_guest_accounts_task(customer_id: int, email: str) -> list[int]:
    return ledger.merge_guest_accounts(int(customer_id), email)


@shared_task(name="saleor_retention_plugin.tasks.anonymise_customer_task", **RETRY_POLICY)
def anonymise_customer_task(customer_id: int, email: str = "") -> int:
    from .services.privacy import anonymise_customer_everywhere

    return anonymise_customer_everywhere(int(customer_id), email or None)


@shared_task(name="saleor_retention_plugin.tasks.expire_due_points_task", **RETRY_POLICY)
def expire_due_points_task() -> int:
    return ledger.expire_due_points()


# --- flows: cart reminders ---------------------------------------------------------------


@shared_task(name="saleor_retention_plugin.tasks.sweep_flows_task", **RETRY_POLICY)
def sweep_flows_task() -> dict[str, Any]:
    """The periodic sweep: every flow schedules its due messages, then claim and hand out.

    Scheduling failures are logged per flow (and per cart) and never keep what is
    already due from being claimed. Each claimed message goes to its own delivery task;
    a delivery task that is lost leaves its message claimed, and a later sweep claims it
    again after the timeout.
    """
    from .services import flows
    from .services.flow_sweep import schedule_due_messages

    report: dict[str, Any] = {"flows": schedule_due_messages(timezone.now())}
    claimed = 0
    while True:
        claims = flows.claim_due_messages(limit=100)
        for claim in claims:
            deliver_flow_message_task.delay(claim.message_id, claim.claim_token)
        claimed += len(claims)
        if len(claims) < 100:
            break
    report["claimed"] = claimed
    return report


@shared_task(name="saleor_retention_plugin.tasks.publish_flow_event_task", **RETRY_POLICY)
def publish_flow_event_task(event: dict[str, Any]) -> int:
    """Enrol what a ``flow_events.FlowEvent`` (as JSON) starts; returns the enrolments."""
    from .services import flow_events

    return len(flow_events.publish(flow_events.FlowEvent.from_json(event)))


@shared_task(name="saleor_retention_plugin.tasks.publish_expiring_points_task", **RETRY_POLICY)
def publish_expiring_points_task() -> int:
    """Daily: ``points_expiring`` for every account with points expiring within 31 days."""
    from .services import flow_events

    return flow_events.publish_expiring_points()


@shared_task(name="saleor_retention_plugin.tasks.deliver_flow_message_task", **RETRY_POLICY)
def deliver_flow_message_task(message_id: int, claim_token: str) -> str:
    from .services import flows

    return flows.deliver_message(int(message_id), str(claim_token))


@shared_task(name="saleor_retention_plugin.tasks.record_order_for_carts_task", **RETRY_POLICY)
def record_order_for_carts_task(order: dict[str, Any], configuration: dict[str, Any]) -> bool:
    """Stop the customer's cart series and credit a recovered cart for this order.

    For callers that hand in snapshots themselves (the sandbox) and for messages queued
    before the order intake; Saleor's hooks reach carts through the intake.
    """
    from .domain.carts import PlacedOrder
    from .services import carts

    settings = stored_settings(configuration)
    return carts.record_order(PlacedOrder.from_json(order), settings) is not None


@shared_task(name="saleor_retention_plugin.tasks.reevaluate_tiers_task", **RETRY_POLICY)
def reevaluate_tiers_task(
    channel_slug: str | None = None, reason: str = "reevaluation"
) -> dict[str, dict[str, int]]:
    """Re-evaluate every account's tier of one channel (or of every channel with tiers).

    Upgrades at once, downgrades once their grace period is over. Daily, and after a
    merchant changed thresholds.
    """
    import dataclasses

    channels = [channel_slug] if channel_slug else tiers.channels_with_tiers()
    reports = {}
    # A channel where the merchant switched the plugin off keeps its tiers as they are.
    channels = [slug for slug in channels if channel_is_active(slug)]
    for slug in channels:
        settings = channel_settings(slug)
        report = tiers.reevaluate_channel(slug, settings=settings.membership, reason=reason)
        reports[slug] = dataclasses.asdict(report)
    return reports


@shared_task(name="saleor_retention_plugin.tasks.expire_reward_codes_task", **RETRY_POLICY)
def expire_reward_codes_task() -> dict[str, int]:
    """Close reward codes that expired; give their points back where the merchant chose so."""
    import dataclasses

    return dataclasses.asdict(mall.expire_unused_codes(settings_for_channel=channel_settings))


@shared_task(name="saleor_retention_plugin.tasks.grant_birthday_gifts_task", **RETRY_POLICY)
def grant_birthday_gifts_task() -> dict[str, int]:
    """Birthday gift points for today's birthdays, per channel, once a year each."""
    return {
        slug: tiers.grant_birthday_gifts(slug, channel_settings(slug))
        for slug in tiers.channels_with_tiers()
        if channel_is_active(slug)
    }


@shared_task(name="saleor_retention_plugin.tasks.refresh_segments_task", **RETRY_POLICY)
def refresh_segments_task(channel_slug: str | None = None) -> dict[str, dict[str, int]]:
    """Rescore the stored customer segments of one channel, or of every channel with orders.

    Each channel as of today in its shop timezone; idempotent (``services.segments``).
    Returns customers per segment for each channel refreshed.
    """
    from .services import segments

    slugs = [channel_slug] if channel_slug else segments.channels_with_orders()
    return {
        slug: segments.refresh_segments(slug, channel_settings(slug).ledger.timezone).by_segment
        for slug in slugs
        if channel_is_active(slug)
    }


def channel_settings(channel_slug: str) -> ChannelSettings:
    """A channel's settings for periodic work that no hook hands a configuration to.

    ``RETENTION_CHANNEL_SETTINGS_LOADER`` (the sandbox, a headless shop), inside Saleor
    the plugin's stored configuration, the defaults elsewhere.
    """
    from .services.flows import channel_settings_loader

    return channel_settings_loader()(channel_slug) or ChannelSettings()


def channel_is_active(channel_slug: str) -> bool:
    """Inside Saleor, whether the merchant switched the plugin on for the channel."""
    stored = _stored_configuration(channel_slug)
    return stored is None or stored[0]


def _stored_configuration(channel_slug: str) -> tuple[bool, list[dict[str, Any]]] | None:
    if not app_settings.SALEOR_INSTALLED:
        return None
    from .integrations.saleor.configuration import load_channel_configuration

    return load_channel_configuration(channel_slug)


@shared_task(name="saleor_retention_plugin.tasks.refresh_lifecycle_task", **RETRY_POLICY)
def refresh_lifecycle_task(
    channel_slug: str | None = None, rebuild: bool = False
) -> dict[str, dict[str, int]]:
    """Re-plan replenishment run-outs, win-back dormancy and co-purchase pairs per channel.

    One channel, or every active channel with orders; idempotent
    (``services.lifecycle``): incremental (the customers whose history changed), or a
    full rebuild with ``rebuild=True``. Returns the rows planned per kind for each channel.
    """
    from .services import lifecycle, segments

    slugs = [channel_slug] if channel_slug else segments.channels_with_orders()
    return {
        slug: lifecycle.refresh_lifecycle(slug, channel_settings(slug), rebuild=rebuild)
        for slug in slugs
        if channel_is_active(slug)
    }
