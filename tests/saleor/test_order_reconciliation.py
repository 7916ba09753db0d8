"""An order event whose task was lost is made good by the periodic reconciliation."""

from decimal import ROUND_FLOOR

from saleor.order import OrderChargeStatus

from saleor_retention_plugin.models import LoyaltyAccount
from saleor_retention_plugin.tasks import reconcile_recent_orders_task


def paid_order_of(order, customer):
    order.user = customer
    order.user_email = customer.email
    order.charge_status = OrderChargeStatus.FULL
    order.save(update_fields=["user", "user_email", "charge_status", "updated_at"])
    return order


def expected_points(order) -> int:
    base = order.total_net_amount - order.shipping_price_net_amount
    return int(base.to_integral_value(rounding=ROUND_FLOOR))


def test_a_paid_order_whose_hook_task_was_lost_earns_at_the_next_reconciliation(
    order_with_lines, customer_user, enable_retention_plugin
):
    enable_retention_plugin()
    # Paid, but no hook ran (as if the broker had been down when Saleor committed).
    order = paid_order_of(order_with_lines, customer_user)

    report = reconcile_recent_orders_task()
    again = reconcile_recent_orders_task()

    account = LoyaltyAccount.objects.get(customer_id=customer_user.pk)
    assert account.balance == expected_points(order) > 0
    assert report["orders"] >= 1
    assert again["failed"] == 0
    assert account.entries.count() == 1  # reconciling twice changes nothing


def test_channels_where_the_plugin_is_off_are_left_alone(
    order_with_lines, customer_user, enable_retention_plugin
):
    enable_retention_plugin(active=False)
    paid_order_of(order_with_lines, customer_user)

    report = reconcile_recent_orders_task()

    assert report == {"orders": 0, "failed": 0}
    assert not LoyaltyAccount.objects.exists()
