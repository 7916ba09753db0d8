"""The flows tests run in the carts tests' stand-in shop (settings loader, coupon issuer)."""

from __future__ import annotations

import pytest

from tests.integration.carts.cart_shop import CARTS, SETTINGS, configure


@pytest.fixture(autouse=True)
def shop(settings):
    settings.RETENTION_CHANNEL_SETTINGS_LOADER = (
        "tests.integration.carts.cart_shop.load_channel_settings"
    )
    settings.RETENTION_COUPON_ISSUER = "saleor_retention_plugin.services.incentives.PlainCodeIssuer"
    CARTS.clear()
    SETTINGS.clear()
    configure()
    yield
    CARTS.clear()
    SETTINGS.clear()
