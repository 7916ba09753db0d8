from .flows import (
    CartRecovery,
    CartState,
    ContactLogEntry,
    FlowMessage,
    MarketingOptOut,
    MessageState,
    TrackedCart,
)
from .ledger import LoyaltyAccount, PointsEntry, PointsLot

__all__ = [
    "CartRecovery",
    "CartState",
    "ContactLogEntry",
    "FlowMessage",
    "LoyaltyAccount",
    "MarketingOptOut",
    "MessageState",
    "PointsEntry",
    "PointsLot",
    "TrackedCart",
]
