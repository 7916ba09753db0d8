"""Deterministic holdout and variant draws: a fixed share of subjects gets no messages.

The choice hashes the cart token with a per-channel salt, so the same cart always lands
in the same group (whichever worker asks, however often) and different channels draw
independent groups. SHA-256 spreads tokens evenly, so the share converges on the
configured percentage.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

BUCKETS = 10_000  # hundredths of a percent


def holdout_bucket(subject: str, *, salt: str) -> int:
    digest = hashlib.sha256(f"{salt}\x00{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def is_in_holdout(subject: str, *, salt: str, percent: Decimal | int | float) -> bool:
    """True when the subject (a cart token) belongs to the group that gets no messages."""
    share = Decimal(str(percent))
    if not Decimal(0) <= share <= Decimal(100):
        raise ValueError("The holdout is a percentage between 0 and 100.")
    return holdout_bucket(subject, salt=salt) < int(share * BUCKETS / 100)


VARIANTS = ("a", "b")


def variant_of(
    subject: str, *, salt: str, variants: int, share_b: Decimal | int | float = 50
) -> str:
    """``"a"`` or ``"b"``, fixed per subject and salt; ``""`` for one variant.

    ``share_b`` percent of subjects (1-99; halves by default) get ``"b"``. The salt is
    the flow's variant salt, never its holdout salt: the two draws are independent.
    Raises ``ValueError`` for a share outside 1-99.
    """
    if variants < 2:
        return ""
    share = Decimal(str(share_b))
    if not Decimal(1) <= share <= Decimal(99):
        raise ValueError("A variant's share is a percentage between 1 and 99.")
    return "b" if holdout_bucket(subject, salt=salt) < int(share * BUCKETS / 100) else "a"
