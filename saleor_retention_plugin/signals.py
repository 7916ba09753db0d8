"""Extension signals: subscribe to react to changes of points.

Every signal is sent only after the transaction that changed the ledger has committed,
so a receiver never sees points that could still roll back, and a receiver that fails
cannot undo a credit. Receivers get keyword arguments only:

``points_earned``   account_id, channel_slug, customer_id, points, entry_id, order_id
``points_spent``    account_id, channel_slug, customer_id, points, entry_id, reason
``points_reversed`` account_id, channel_slug, customer_id, points, written_off, entry_id, order_id
``points_expired``  account_id, channel_slug, customer_id, points, entry_id
``points_adjusted`` account_id, channel_slug, customer_id, points, delta, entry_id, reason, actor
                    (``delta`` is signed: +20 added, -20 taken)

``points`` is a positive count of the points that moved; ``written_off`` is the part of a
take-back that could not be covered under the clamp-to-zero policy. The one exception:
``points_reversed`` carries ``points=0`` when the customer had nothing left and all of
the take-back was written off.

Membership and points mall:

``tier_changed``    account_id, channel_slug, customer_id, change_id, from_tier, to_tier, reason
                    (tier codes such as "silver"; ``from_tier`` is "" when joining; ``reason``
                    is a ``TierChange.Reason`` value)
``reward_redeemed`` account_id, channel_slug, customer_id, redemption_id, reward_id, points,
                    status ("issued" or, for a prize draw without a prize, "no_prize")

Post-purchase care:

``satisfaction_low_score`` channel_slug, order_id, customer_id, email, score, rating_id
                    (a rating at or below the channel's threshold, default 2, from a signed
                    rating link; sent when an order's score becomes low, not again while it
                    stays low, so a merchant can follow up once)

Internal (the app's own wiring; services announce, ``apps.ready()`` connects the work):

``tier_thresholds_changed`` channel_slug, reason (a ``TierChange.Reason`` value): a staff
                    edit changed a channel's ladder; every account is re-evaluated.

Example::

    from django.dispatch import receiver
    from saleor_retention_plugin.signals import points_earned

    @receiver(points_earned)
    def thank_customer(sender, *, customer_id, points, **kwargs): ...
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

points_earned = Signal()
points_spent = Signal()
points_reversed = Signal()
points_expired = Signal()
points_adjusted = Signal()
tier_changed = Signal()
reward_redeemed = Signal()
tier_thresholds_changed = Signal()
satisfaction_low_score = Signal()


def send_after_commit(signal: Signal, **kwargs: Any) -> None:
    """Send ``signal`` once the current transaction commits; receivers' errors are logged."""

    def send() -> None:
        for receiver, result in signal.send_robust(sender=LedgerSender, **kwargs):
            if isinstance(result, Exception):
                logger.error("Retention signal receiver %r failed", receiver, exc_info=result)

    transaction.on_commit(send)


class LedgerSender:
    """The ``sender`` of every ledger signal."""
