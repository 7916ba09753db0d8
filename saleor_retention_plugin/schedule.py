"""Periodic tasks the plugin registers itself, so a Saleor deployment needs no settings edit.

Saleor's ``CELERY_BEAT_SCHEDULE`` is a fixed dict in its settings; both of Saleor's beat
schedulers also read ``app.conf.beat_schedule``, which we extend when Django is ready.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

PERIODIC_TASKS: dict[str, dict[str, Any]] = {
    "saleor-retention-expire-points": {
        "task": "saleor_retention_plugin.tasks.expire_due_points_task",
        "schedule": timedelta(minutes=15),
        "options": {"expires": 14 * 60},
    },
    # Cart reminders (and later flows): due carts -> outbox -> claimed -> sent once.
    "saleor-retention-sweep-flows": {
        "task": "saleor_retention_plugin.tasks.sweep_flows_task",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 55},
    },
    # Points about to expire start the flows that warn about them (idempotent per expiry).
    "saleor-retention-expiring-points": {
        "task": "saleor_retention_plugin.tasks.publish_expiring_points_task",
        "schedule": timedelta(days=1),
        "options": {"expires": 12 * 60 * 60},
    },
    # Makes good an order event whose task a broker outage lost (see RECONCILE_WINDOW).
    "saleor-retention-reconcile-orders": {
        "task": "saleor_retention_plugin.tasks.reconcile_recent_orders_task",
        "schedule": timedelta(minutes=30),
        "options": {"expires": 25 * 60},
    },
    "saleor-retention-reevaluate-tiers": {
        "task": "saleor_retention_plugin.tasks.reevaluate_tiers_task",
        "schedule": timedelta(days=1),
        "options": {"expires": 12 * 60 * 60},
    },
    # Hourly so each shop's day starts in its own timezone; a gift is once a year anyway.
    "saleor-retention-birthday-gifts": {
        "task": "saleor_retention_plugin.tasks.grant_birthday_gifts_task",
        "schedule": timedelta(hours=1),
        "options": {"expires": 50 * 60},
    },
    # Stored segments (new / active / dormant, RFM, ...) that flows and campaigns target.
    "saleor-retention-refresh-segments": {
        "task": "saleor_retention_plugin.tasks.refresh_segments_task",
        "schedule": timedelta(hours=6),
        "options": {"expires": 5 * 60 * 60},
    },
    # Replenishment run-outs, win-back dormancy (reads the segments) and co-purchase pairs:
    # the "who is due" queries of those flows read these rows.
    "saleor-retention-refresh-lifecycle": {
        "task": "saleor_retention_plugin.tasks.refresh_lifecycle_task",
        "schedule": timedelta(hours=6),
        "options": {"expires": 5 * 60 * 60},
    },
    "saleor-retention-expire-reward-codes": {
        "task": "saleor_retention_plugin.tasks.expire_reward_codes_task",
        "schedule": timedelta(hours=1),
        "options": {"expires": 50 * 60},
    },
}


def register_periodic_tasks() -> None:
    from celery import current_app

    schedule = current_app.conf.beat_schedule
    if schedule is None:
        current_app.conf.beat_schedule = schedule = {}
    for name, entry in PERIODIC_TASKS.items():
        schedule.setdefault(name, entry)
