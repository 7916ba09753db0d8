"""Auditable prize draws: every outcome can be re-derived from stored data.

The merchant's reward holds a secret ``seed``; its SHA-256 (the commitment) is public
from the day the draw opens, so the merchant cannot swap seeds afterwards. Each entry
stores its ``nonce`` and the odds as they stood. The nonce joins the ledger entry that
paid for the entry (unique) with the SHA-256 of the idempotency key the customer chose
for the redemption: the merchant, who knows the seed, cannot tell in advance which entry
wins, and a customer can check their own key went into their draw. The roll is

    roll = int(HMAC-SHA256(seed, nonce)) mod 1_000_000

a number in [0, 1_000_000) that is uniform for practical purposes (the modulo bias of a
256-bit number is below 10^-70). The odds are laid out as consecutive ranges of
parts-per-million in the order the prizes are listed; the range the roll falls into is
the prize, and beyond the last range there is no prize. When the seed is published,
anyone can recompute the roll and check the outcome with ``verify``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

SCALE = 1_000_000  # odds are counted in parts per million
ALGORITHM = "hmac-sha256-mod-1e6"


@dataclass(frozen=True)
class Prize:
    code: str
    parts_per_million: int
    available: bool = True  # False once its quantity is won out: its range then wins nothing


@dataclass(frozen=True)
class DrawOutcome:
    roll: int
    prize_code: str | None  # None: no prize

    def as_audit(self, *, seed_hash: str, nonce: str, prizes: Sequence[Prize]) -> dict[str, Any]:
        return {
            "algorithm": ALGORITHM,
            "seed_hash": seed_hash,
            "nonce": nonce,
            "odds": [
                {"code": prize.code, "ppm": prize.parts_per_million, "available": prize.available}
                for prize in prizes
            ],
            "roll": self.roll,
            "prize": self.prize_code,
        }


def new_seed() -> str:
    return secrets.token_hex(32)


def seed_hash(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def entry_nonce(entry_id: int, customer_key: str) -> str:
    """The nonce of one draw entry: ``entry:<ledger entry id>|key:<sha256 of the key>``."""
    return f"entry:{entry_id}|key:{hashlib.sha256(customer_key.encode()).hexdigest()}"


def nonce_includes_key(audit: Mapping[str, Any], customer_key: str) -> bool:
    """Whether the stored draw was rolled with the customer's own idempotency key."""
    nonce = str(audit.get("nonce", ""))
    return nonce.endswith(f"|key:{hashlib.sha256(customer_key.encode()).hexdigest()}")


def roll(seed: str, nonce: str) -> int:
    digest = hmac.new(seed.encode(), nonce.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest, "big") % SCALE


def outcome_for_roll(value: int, prizes: Sequence[Prize]) -> str | None:
    """The prize whose consecutive odds range holds ``value``; None beyond them all."""
    upper = 0
    for prize in prizes:
        upper += prize.parts_per_million
        if value < upper:
            return prize.code if prize.available else None
    return None


def draw(seed: str, nonce: str, prizes: Sequence[Prize]) -> DrawOutcome:
    check_odds(prizes)
    value = roll(seed, nonce)
    return DrawOutcome(value, outcome_for_roll(value, prizes))


def verify(audit: Mapping[str, Any], seed: str) -> bool:
    """Whether a stored draw follows from ``seed``: commitment, roll and outcome all match."""
    if audit.get("algorithm") != ALGORITHM or seed_hash(seed) != audit.get("seed_hash"):
        return False
    prizes = [
        Prize(str(item["code"]), int(item["ppm"]), bool(item.get("available", True)))
        for item in audit.get("odds", [])
    ]
    value = roll(seed, str(audit.get("nonce", "")))
    return value == audit.get("roll") and outcome_for_roll(value, prizes) == audit.get("prize")


def check_odds(prizes: Sequence[Prize]) -> None:
    if any(prize.parts_per_million < 0 for prize in prizes):
        raise ValueError("Odds cannot be negative.")
    if sum(prize.parts_per_million for prize in prizes) > SCALE:
        raise ValueError("The odds of all prizes add up to more than 100%.")


def probability_to_ppm(raw: Any) -> int:
    """``"0.05"`` (5%) -> 50_000 parts per million; exact, at most 6 decimal places."""
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise ValueError("Enter the probability as a number between 0 and 1, e.g. 0.05.") from None
    if not value.is_finite() or value <= 0 or value > 1:
        raise ValueError("Enter a probability greater than 0 and at most 1, e.g. 0.05 for 5%.")
    ppm = value * SCALE
    if ppm != ppm.to_integral_value():
        raise ValueError("Use at most 6 decimal places (one in a million).")
    return int(ppm)
