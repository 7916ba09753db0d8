from .ledger import LoyaltyAccount, PointsEntry, PointsLot

__all__ = ["LoyaltyAccount", "PointsEntry", "PointsLot"]
