"""Issuing reward codes: an interface, and a plain issuer for running without Saleor.

The points mall never creates codes itself; it asks a ``CodeIssuer``. Inside Saleor the
issuer is ``integrations.saleor.vouchers.SaleorVoucherIssuer`` (a single-use Saleor
voucher code the customer applies with ``checkoutAddPromoCode``); elsewhere (the sandbox,
the integration tests, a headless shop) ``PlainCodeIssuer`` makes unguessable codes that
the shop honours itself. ``issue`` runs inside the redemption's transaction: if it
raises, the points are not spent.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from datetime import datetime
    from decimal import Decimal

    from ..models import Redemption, Reward

# Crockford-style alphabet: no 0/O or 1/I/L to misread when typed from an email.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 16  # 31**16 ~ 7e23 codes: ~79 bits, not guessable by trying
CODE_PREFIX = "PTS"


@dataclass(frozen=True)
class IssuedReward:
    """What to issue: the reward itself, or for a prize draw, the prize won."""

    kind: str  # RewardKind value (never prize_draw)
    discount_value: Decimal | None
    min_order_amount: Decimal | None
    gift_product_id: str
    name: str


@dataclass(frozen=True)
class IssuedCode:
    code: str
    issuer: str  # short name stored on the redemption, e.g. "plain", "saleor_voucher"
    reference: str = ""  # the issuer's own id of the code (e.g. the Saleor voucher pk)
    expires_at: datetime | None = None


@runtime_checkable
class CodeIssuer(Protocol):
    name: str

    def issue(
        self,
        reward: Reward,
        redemption: Redemption,
        channel_slug: str,
        expires_at: datetime | None,
        *,
        what: IssuedReward,
    ) -> IssuedCode:
        """Create a single-use code worth ``what`` in the channel, valid until ``expires_at``.

        ``redemption`` is not saved yet (it is saved with the code, in the same transaction).
        """
        ...

    def is_used(self, code: str) -> bool:
        """Whether the code was used on an order (a used code never gives points back)."""
        ...


def generate_code(prefix: str = CODE_PREFIX, length: int = CODE_LENGTH) -> str:
    body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))
    return (
        f"{prefix}-{body[:4]}-{body[4:8]}-{body[8:12]}-{body[12:]}"
        if length == 16
        else f"{prefix}-{body}"
    )


class PlainCodeIssuer:
    """Random unguessable codes, stored only on the redemption.

    The shop redeems them itself; ``mark_used`` records that it did (the services'
    ``mark_code_used`` calls it), so ``is_used`` reads the redemption's status.
    """

    name = "plain"

    def issue(
        self,
        reward: Reward,
        redemption: Redemption,
        channel_slug: str,
        expires_at: datetime | None,
        *,
        what: IssuedReward,
    ) -> IssuedCode:
        return IssuedCode(code=generate_code(), issuer=self.name, expires_at=expires_at)

    def is_used(self, code: str) -> bool:
        from ..models import Redemption

        return Redemption.objects.filter(code=code, status=Redemption.Status.USED).exists()


SALEOR_VOUCHER_ISSUER = "saleor_retention_plugin.integrations.saleor.vouchers.SaleorVoucherIssuer"


def default_code_issuer() -> CodeIssuer:
    """Saleor vouchers when Saleor's discount app is installed, plain codes otherwise."""
    from django.utils.module_loading import import_string

    from .. import app_settings

    if app_settings.SALEOR_INSTALLED:
        # By its path: the Saleor issuer builds on this module (no import cycle).
        return import_string(SALEOR_VOUCHER_ISSUER)()
    return PlainCodeIssuer()
