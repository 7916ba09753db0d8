"""Keeps the display copy of points and tier in Saleor's user metadata up to date.

Receivers of the ledger signals (sent after commit) and of new tier changes enqueue one
task per account; the task reads the account as it is then, so a burst of changes and
retries all converge on the same value. Only active inside Saleor: without Saleor's
``account`` app there is no metadata to write.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db.models.signals import post_save

from . import app_settings, signals
from .enqueue import enqueue_after_commit
from .tasks import RETRY_POLICY

logger = logging.getLogger(__name__)

LEDGER_SIGNALS = (
    signals.points_earned,
    signals.points_spent,
    signals.points_reversed,
    signals.points_expired,
    signals.points_adjusted,
)


@shared_task(
    name="saleor_retention_plugin.metadata_display.copy_loyalty_to_metadata_task", **RETRY_POLICY
)
def copy_loyalty_to_metadata_task(account_id: int) -> bool:
    from .integrations.saleor.metadata import copy_account_to_metadata

    return copy_account_to_metadata(int(account_id))


def mirror_enabled() -> bool:
    return app_settings.SALEOR_INSTALLED


def _on_ledger_change(
    sender: Any, *, account_id: int, customer_id: int | None, **kwargs: Any
) -> None:
    if customer_id is not None and mirror_enabled():
        # Ledger signals are sent after commit, so this sends at once. A broker outage is
        # logged: the ledger is the truth and the next change mirrors again.
        enqueue_after_commit(copy_loyalty_to_metadata_task, account_id)


def _on_tier_change(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if created and mirror_enabled():
        enqueue_after_commit(copy_loyalty_to_metadata_task, instance.account_id)


def connect() -> None:
    from .models import TierChange

    for signal in LEDGER_SIGNALS:
        signal.connect(_on_ledger_change, dispatch_uid=f"retention-mirror-{id(signal)}")
    post_save.connect(_on_tier_change, sender=TierChange, dispatch_uid="retention-mirror-tier")
