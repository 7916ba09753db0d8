"""Coupons attached to reminder steps, through a code issuer.

The engine asks an issuer for one single-use code per outbox message, keyed by the
message's idempotency key, and stores the code on the message before sending, so a
retried send reuses it instead of minting a second coupon.

Which issuer: the ``RETENTION_COUPON_ISSUER`` Django setting (a dotted path to a class
or factory) when set; inside Saleor the voucher issuer
(``integrations.saleor.vouchers.SaleorCouponIssuer``: a single-use Saleor voucher with
its channel listing and code, made by the same function as points-mall rewards);
elsewhere ``PlainCodeIssuer``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.conf import settings

from .. import app_settings

if TYPE_CHECKING:
    from datetime import datetime

    from ..domain.schedules import Incentive

SALEOR_VOUCHER_ISSUER = app_settings.SALEOR_VOUCHER_ISSUER
PLAIN_CODE_ISSUER = app_settings.PLAIN_CODE_ISSUER


@dataclass(frozen=True)
class CouponRequest:
    idempotency_key: str  # the same key always yields the same code
    channel_slug: str
    currency: str
    incentive: Incentive
    valid_until: datetime
    purpose: str  # shown to the merchant, e.g. "Cart reminder 2"


class CouponIssuer(Protocol):
    def issue(self, request: CouponRequest) -> str:
        """Create (or find, for a key seen before) a single-use code and return it."""


class PlainCodeIssuer:
    """Deterministic codes from the idempotency key, for shops that redeem codes elsewhere.

    The code is an HMAC of the key with Django's SECRET_KEY: stable across retries and
    not guessable from the key.
    """

    prefix = "CART"

    def issue(self, request: CouponRequest) -> str:
        digest = hmac.new(
            settings.SECRET_KEY.encode(), request.idempotency_key.encode(), hashlib.sha256
        ).hexdigest()
        return f"{self.prefix}-{digest[:10].upper()}"


def coupon_issuer() -> CouponIssuer:
    return app_settings.coupon_issuer_class()  # RETENTION_COUPON_ISSUER
