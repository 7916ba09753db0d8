"""The flows tests run in the carts tests' stand-in shop (settings loader, coupon issuer)."""

from __future__ import annotations

from tests.integration.carts.conftest import shop

__all__ = ["shop"]
