"""Guest points go only to whoever proves the email is theirs; orders earn on goods."""

from decimal import Decimal

from django.utils import timezone
from saleor.account.models import User
from saleor.plugins.manager import get_plugins_manager

from saleor_retention_plugin.conf import LedgerSettings
from saleor_retention_plugin.domain.orders import OrderSnapshot
from saleor_retention_plugin.integrations.saleor.orders import order_snapshot
from saleor_retention_plugin.models import LoyaltyAccount
from saleor_retention_plugin.services import ledger


def guest_points(channel, email: str, points: int) -> LoyaltyAccount:
    snapshot = OrderSnapshot(
        order_id=f"guest-order-{email}",
        number="1",
        channel_slug=channel.slug,
        channel_currency=channel.currency_code,
        currency=channel.currency_code,
        customer_id=None,
        email=email,
        status="unfulfilled",
        is_fully_paid=True,
        points_base_amount=Decimal(points),
        total_amount=Decimal(points),
        refunded_amount=Decimal(0),
        created_at=timezone.now(),
    )
    ledger.sync_order_points(snapshot, LedgerSettings())
    return LoyaltyAccount.objects.get(email=email, customer_id__isnull=True)


def test_a_checkout_email_set_to_someone_elses_does_not_take_their_guest_points(
    checkout_with_item,
    customer_user,
    enable_retention_plugin,
    channel_USD,
    django_capture_on_commit_callbacks,
):
    enable_retention_plugin()
    victim = guest_points(channel_USD, "victim@example.com", 80)
    checkout_with_item.user = customer_user
    checkout_with_item.email = "victim@example.com"  # checkoutEmailUpdate accepts any address
    checkout_with_item.save()

    with django_capture_on_commit_callbacks(execute=True):
        get_plugins_manager(allow_replica=False).checkout_updated(checkout_with_item)

    victim.refresh_from_db()
    assert (victim.merged_into_id, victim.balance) == (None, 80)


def test_an_unconfirmed_registration_waits_for_confirmation_before_taking_guest_points(
    enable_retention_plugin, channel_USD, django_capture_on_commit_callbacks
):
    enable_retention_plugin()
    guest = guest_points(channel_USD, "newbie@example.com", 50)

    with django_capture_on_commit_callbacks(execute=True):
        # What accountRegister stores (UserManager.create_user is gone in Saleor 3.23).
        user = User(email="newbie@example.com", is_confirmed=False)
        user.set_password("secret-123")
        user.save()
    guest.refresh_from_db()
    assert guest.merged_into_id is None

    with django_capture_on_commit_callbacks(execute=True):
        user.is_confirmed = True
        user.save(update_fields=["is_confirmed", "updated_at"])  # what accountConfirm saves

    guest.refresh_from_db()
    assert guest.merged_into is not None
    assert guest.merged_into.customer_id == user.pk
    assert guest.merged_into.balance == 50


def test_gift_cards_earn_no_points_and_refunds_are_shares_of_the_goods(
    order_with_lines, customer_user
):
    line = order_with_lines.lines.first()
    line.is_gift_card = True
    line.save(update_fields=["is_gift_card"])
    order_with_lines.user = customer_user
    order_with_lines.user_email = customer_user.email
    order_with_lines.save(update_fields=["user", "user_email"])

    snapshot = order_snapshot(order_with_lines)

    order = order_with_lines
    assert snapshot.points_base_amount == (
        order.total_net_amount - order.shipping_price_net_amount - line.total_price_net_amount
    )
    assert snapshot.goods_amount == (
        order.total_gross_amount - order.shipping_price_gross_amount - line.total_price_gross_amount
    )
    assert snapshot.email_verified is True  # a confirmed customer ordering with their email
