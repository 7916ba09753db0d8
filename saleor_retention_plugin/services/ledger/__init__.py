"""Write use-cases of the points ledger; each runs in one transaction.

Every function that changes points locks the account row first (``SELECT ... FOR
UPDATE``), so two spends against one account are serialised by PostgreSQL and the second
sees what the first left. Idempotency does not rely on the lock: each entry has a unique
``idempotency_key``, so a duplicate event or a retried task hits the constraint and changes
nothing.

One concern per module: ``entries`` (errors, locks, entries and lots), ``accounts``,
``orders`` (called by the order intake), ``spending`` (spending, adjustments, expiry) and
``reading``. ``from saleor_retention_plugin.services import ledger`` keeps working: the
package exposes every use-case as before.
"""

from __future__ import annotations

from .accounts import (
    account_for,
    anonymise_customer,
    merge_guest_accounts,
)
from .entries import (
    MAX_ADJUSTMENT,
    AccountNotFound,
    InsufficientPoints,
    InvalidPoints,
    LedgerError,
)
from .orders import (
    MAX_ORDER_AMOUNT,
    OrderPointsOutcome,
    sync_order_points,
)
from .reading import (
    AccountSummary,
    ExpiringPoints,
    summarise_account,
    summary_from_lots,
    with_points_in_lots,
)
from .spending import (
    adjust_points,
    expire_due_points,
    expire_lot,
    spend_points,
)

__all__ = [
    "MAX_ADJUSTMENT",
    "MAX_ORDER_AMOUNT",
    "AccountNotFound",
    "AccountSummary",
    "ExpiringPoints",
    "InsufficientPoints",
    "InvalidPoints",
    "LedgerError",
    "OrderPointsOutcome",
    "account_for",
    "adjust_points",
    "anonymise_customer",
    "expire_due_points",
    "expire_lot",
    "merge_guest_accounts",
    "spend_points",
    "summarise_account",
    "summary_from_lots",
    "sync_order_points",
    "with_points_in_lots",
]
