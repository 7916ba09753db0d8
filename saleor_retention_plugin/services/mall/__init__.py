"""Write use-cases of the points mall, one concern per module.

* ``catalogue``: rewards and prize draws (staff);
* ``redemption``: redeeming rewards and the life of their codes.

``from saleor_retention_plugin.services import mall`` keeps working: the package exposes
every use-case as before.
"""

from __future__ import annotations

from ..errors import RetentionError  # raised through mall.* (tests/saleor use it)
from .catalogue import (
    MAX_DISCOUNT,
    MAX_PER_CUSTOMER_LIMIT,
    MAX_POINTS_COST,
    MAX_STOCK,
    PRIZE_CODE,
    PRIZE_KINDS,
    REWARD_FIELDS,
    RewardNotFound,
    clean_reward,
    create_reward,
    delete_reward,
    reveal_draw_seed,
    rewards_of_channel,
    update_reward,
)
from .redemption import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    ExpiryReport,
    InsufficientPoints,
    LimitReached,
    NotEnoughPoints,
    OutOfStock,
    RewardUnavailable,
    expire_unused_codes,
    give_back_code_of_cancelled_order,
    mark_code_used,
    redeem_or_replay,
    redeem_reward,
    redemptions_of,
    verify_draw,
)

__all__ = [
    "MAX_DISCOUNT",
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "MAX_PER_CUSTOMER_LIMIT",
    "MAX_POINTS_COST",
    "MAX_STOCK",
    "PRIZE_CODE",
    "PRIZE_KINDS",
    "REWARD_FIELDS",
    "ExpiryReport",
    "InsufficientPoints",
    "LimitReached",
    "NotEnoughPoints",
    "OutOfStock",
    "RetentionError",
    "RewardNotFound",
    "RewardUnavailable",
    "clean_reward",
    "create_reward",
    "delete_reward",
    "expire_unused_codes",
    "give_back_code_of_cancelled_order",
    "mark_code_used",
    "redeem_or_replay",
    "redeem_reward",
    "redemptions_of",
    "reveal_draw_seed",
    "rewards_of_channel",
    "update_reward",
    "verify_draw",
]
