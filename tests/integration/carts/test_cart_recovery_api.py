"""Staff read what the reminders recovered through the loyalty API; customers cannot."""

from __future__ import annotations

import pytest

from saleor_retention_plugin.services import carts

from .cart_shop import CHANNEL, HOUR, T0, order, put_cart, shop_settings, sweep, tea_line

pytestmark = pytest.mark.django_db

CART_RECOVERY = """
{
  cartRecovery {
    reminded { abandonedCarts recoveredCarts recoveryRate revenue { currency amount } }
    holdout { abandonedCarts recoveredCarts }
    recoveredByStep { step carts revenue { currency amount } }
    reminders { state messages }
    openCarts
  }
}
"""


def test_staff_see_recovered_carts_and_revenue_per_reminder_step(track, loyalty_api, staff_token):
    recovered, left = track(), track(email="bo@example.com")
    put_cart(recovered, tea_line(quantity=2))
    put_cart(left, tea_line(), email="bo@example.com")
    sweep(T0 + HOUR)
    carts.record_order(order(recovered, at=T0 + 2 * HOUR, total="176.00"), shop_settings())

    response = loyalty_api.post(CART_RECOVERY, token=staff_token().token, channel=CHANNEL)

    assert response.status == 200, response.body
    data = response.body["data"]["cartRecovery"]
    assert data["reminded"] == {
        "abandonedCarts": 2,
        "recoveredCarts": 1,
        "recoveryRate": "50.0",
        "revenue": [{"currency": "CNY", "amount": "176.000"}],
    }
    assert data["holdout"] == {"abandonedCarts": 0, "recoveredCarts": 0}
    assert data["recoveredByStep"] == [
        {"step": 1, "carts": 1, "revenue": {"currency": "CNY", "amount": "176.000"}}
    ]
    assert {"state": "sent", "messages": 2} in data["reminders"]
    assert data["openCarts"] == 1


def test_customers_cannot_read_the_shops_recovery_figures(loyalty_api, customer_token):
    response = loyalty_api.post(CART_RECOVERY, token=customer_token().token, channel=CHANNEL)

    assert response.body.get("data") is None or response.body["data"].get("cartRecovery") is None
    assert response.body["errors"]
