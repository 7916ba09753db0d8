"""Fixtures of the flow-engine tests: a fake shop around the real engine and delivery."""

from __future__ import annotations

import uuid

import pytest

from saleor_retention_plugin.domain.carts import CartActivity
from saleor_retention_plugin.services import carts, flows

from .cart_shop import CARTS, CHANNEL, SETTINGS, T0, WelcomeFlow, load_channel_settings, set_up


@pytest.fixture(autouse=True)
def shop(settings):
    settings.RETENTION_CART_CONTENTS_LOADER = "tests.integration.carts.cart_shop.load_cart_contents"
    settings.RETENTION_CHANNEL_SETTINGS_LOADER = (
        "tests.integration.carts.cart_shop.load_channel_settings"
    )
    settings.RETENTION_COUPON_ISSUER = "saleor_retention_plugin.services.incentives.PlainCodeIssuer"
    CARTS.clear()
    SETTINGS.clear()
    set_up()
    yield
    CARTS.clear()
    SETTINGS.clear()


@pytest.fixture
def track():
    """Record checkout activity the way the checkout hooks do."""

    def track(
        token=None,
        *,
        at=T0,
        email="ann@example.com",
        customer_id=None,
        language="en",
        currency="CNY",
        channel=CHANNEL,
    ):
        token = token or str(uuid.uuid4())
        activity = CartActivity(
            checkout_token=token,
            channel_slug=channel,
            customer_id=customer_id,
            email=email,
            language_code=language,
            currency=currency,
            occurred_at=at,
        )
        settings = load_channel_settings(channel)
        assert settings is not None
        carts.record_cart_activity(activity, settings, now=at)
        return token

    return track


@pytest.fixture
def welcome_flow():
    """The test-only second flow, registered for the test."""
    flow = flows.register_flow(WelcomeFlow())
    yield flow
    flows.FLOWS.pop(WelcomeFlow.name)
