"""``retention_backfill --saleor`` reads Saleor's own orders into the purchase history.

A small shop is built with Saleor's models and fixtures: a refunded order with shipping, a
cancelled one, a guest order whose email later becomes a confirmed customer's, a voucher
order, an order in a second channel (PLN), an unconfirmed order and a draft. Each stored
row is checked field by field against the Saleor order, with the amounts worked out here
from what Saleor stores (goods net of tax after discounts, less the refunded share).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from django.core.management import call_command
from saleor.account.models import User
from saleor.discount.models import OrderDiscount
from saleor.order.models import Order
from saleor.payment.models import TransactionItem
from saleor.product.models import Category, Product, ProductType, ProductVariant

from saleor_retention_plugin.integrations.saleor import history
from saleor_retention_plugin.models import (
    BackfillCheckpoint,
    LoyaltyAccount,
    PointsEntry,
    PurchasedLine,
    PurchasedOrder,
)

CENT = Decimal("0.01")
NOT_COUNTED = {"canceled", "unconfirmed"}


def moment(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def backfill(*args: str) -> str:
    out = io.StringIO()
    call_command("retention_backfill", "--saleor", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def goods(order: Order) -> tuple[Decimal, Decimal]:
    """Net and gross of the order's goods as Saleor stores them (gift cards are not goods)."""
    lines = [line for line in order.lines.all() if not line.is_gift_card]
    return (
        sum((line.total_price_net_amount for line in lines), Decimal(0)),
        sum((line.total_price_gross_amount for line in lines), Decimal(0)),
    )


@pytest.fixture
def shop(
    order_with_lines,
    order_with_lines_channel_PLN,
    order_generator,
    order_lines_generator,
    customer_user,
    channel_USD,
    voucher,
    warehouse,
):
    """The shop's orders by name, each placed on its own day of 2024."""
    variant_a, variant_b = (line.variant for line in order_with_lines.lines.order_by("pk"))

    def place(
        day: str, variants: list[Any], prices: list[int], quantities: list[int], **kwargs: Any
    ) -> Order:
        order = order_generator(**kwargs)
        order_lines_generator(order, variants, prices, quantities, create_allocations=False)
        net, gross = goods(order)
        order.total_net_amount = order.undiscounted_total_net_amount = net
        order.total_gross_amount = order.undiscounted_total_gross_amount = gross
        order.created_at = moment(day)  # not editable: only an update sets it
        order.save()
        Order.objects.filter(pk=order.pk).update(created_at=order.created_at)
        return order

    # Refunded: half of what the goods cost given back as a plain amount (no items named);
    # the order also paid for shipping, which the customer keeps paying for.
    refunded = order_with_lines
    assert refunded.shipping_price_gross_amount > 0
    _, refunded_goods_gross = goods(refunded)
    TransactionItem.objects.create(
        order=refunded,
        name="Dummy",
        psp_reference="refund-1",
        currency=refunded.currency,
        charged_value=refunded.total_gross_amount,
        refunded_value=(refunded_goods_gross / 2).quantize(CENT),
    )
    Order.objects.filter(pk=refunded.pk).update(created_at=moment("2024-01-10"))

    # A product of another type and category, bought by a guest whose email later
    # becomes a confirmed customer's.
    books = ProductType.objects.create(name="Books", slug="books")
    novels = Category.objects.create(name="Novels", slug="novels")
    novel = Product.objects.create(
        name="A novel", slug="a-novel", product_type=books, category=novels
    )
    novel_variant = ProductVariant.objects.create(product=novel, sku="NOVEL-1")
    novel_variant.channel_listings.create(
        channel=channel_USD, price_amount=Decimal(15), currency=channel_USD.currency_code
    )
    guest = place(
        "2024-02-05", [novel_variant, variant_a], [15, 10], [2, 1],
        user=None, user_email="Later.Customer@Example.com", status="fulfilled",
    )  # fmt: skip

    # An entire-order voucher of 20 USD on 4 x 10 USD, spread over the line as Saleor does.
    with_voucher = place("2024-02-20", [variant_b], [10], [4], status="fulfilled")
    line = with_voucher.lines.get()
    line.unit_price_net_amount = Decimal(5)
    line.unit_price_gross_amount = Decimal("6.15")
    line.total_price_net_amount = Decimal(20)
    line.total_price_gross_amount = Decimal("24.60")
    line.save()
    with_voucher.voucher = voucher
    with_voucher.voucher_code = voucher.code
    with_voucher.total_net_amount, with_voucher.total_gross_amount = goods(with_voucher)
    with_voucher.save()
    OrderDiscount.objects.create(
        order=with_voucher,
        type="voucher",
        value_type="fixed",
        value=Decimal(20),
        amount_value=Decimal(20),
        currency="USD",
        voucher=voucher,
    )

    pln = order_with_lines_channel_PLN
    Order.objects.filter(pk=pln.pk).update(created_at=moment("2024-03-05"))

    orders = {
        "refunded": refunded,
        "cancelled": place("2024-01-20", [variant_a], [10], [1], status="canceled"),
        "guest": guest,
        "draft": place("2024-02-10", [variant_a], [10], [2], status="draft"),
        "voucher": with_voucher,
        "unconfirmed": place("2024-02-25", [variant_b], [20], [1], status="unconfirmed"),
        "pln": pln,
    }
    for order in orders.values():
        order.refresh_from_db()
    return orders


def expected_net(order: Order) -> Decimal:
    """What the history must keep for the order, worked out from Saleor's stored fields."""
    if order.status == "canceled":
        return Decimal("0.00")
    net, gross = goods(order)
    refunded = sum(
        (item.refunded_value for item in TransactionItem.objects.filter(order=order)),
        Decimal(0),
    )
    # A refund that names no items counts as goods first, up to what the goods cost.
    share = min(refunded, gross) / gross
    return (net * (1 - share)).quantize(CENT, rounding=ROUND_HALF_UP)


def assert_row_matches(order: Order, *, customer_key: str | None = None) -> None:
    row = PurchasedOrder.objects.get(order_id=str(order.pk))
    assert row.channel_slug == order.channel.slug
    assert row.currency == order.currency
    assert row.placed_at == order.created_at
    assert row.status == order.status
    assert row.counts is (order.status not in NOT_COUNTED)
    assert row.customer_id == order.user_id
    assert row.email == order.user_email.lower()
    assert row.customer_key == (customer_key or f"customer:{order.user_id}")
    assert row.net_goods_amount == expected_net(order)
    assert row.voucher_code == (order.voucher_code or None)
    assert row.used_voucher is bool(order.voucher_code)
    assert row.used_discount is bool(order.voucher_code or order.discounts.exists())
    lines = {line.line_id: line for line in row.lines.all()}
    saleor_lines = list(order.lines.all())
    assert set(lines) == {str(line.pk) for line in saleor_lines}
    for saleor_line in saleor_lines:
        stored = lines[str(saleor_line.pk)]
        product = saleor_line.variant.product
        assert stored.variant_id == str(saleor_line.variant_id)
        assert stored.product_id == str(product.pk)
        assert stored.product_type_id == str(product.product_type_id)
        assert stored.category_id == str(product.category_id)
        assert stored.sku == saleor_line.product_sku
        assert stored.quantity == saleor_line.quantity
        assert stored.unit_price_net == (
            saleor_line.total_price_net_amount / saleor_line.quantity
        ).quantize(CENT)


def stored_history() -> list[tuple[Any, ...]]:
    orders = PurchasedOrder.objects.order_by("order_id").values_list(
        "order_id", "channel_slug", "customer_key", "customer_id", "email", "placed_at",
        "status", "counts", "currency", "net_goods_amount", "used_voucher", "used_discount",
        "voucher_code", "source",
    )  # fmt: skip
    lines = PurchasedLine.objects.order_by("order__order_id", "line_id").values_list(
        "order__order_id", "line_id", "variant_id", "product_id", "product_type_id",
        "category_id", "sku", "quantity", "unit_price_net",
    )  # fmt: skip
    return [*orders, *lines]


def test_the_backfill_stores_every_saleor_order_as_saleor_has_it(shop, monkeypatch):
    # Ctrl-C while the fourth order is read, one order per batch: an order is complete
    # once the next one is read, so the first two are written and the third is lost.
    read = history.order_values
    calls = {"n": 0}

    def interrupted(order: Order) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return read(order)

    monkeypatch.setattr(history, "order_values", interrupted)
    with pytest.raises(KeyboardInterrupt):
        backfill("--batch-size", "1")
    assert PurchasedOrder.objects.count() == 2
    assert BackfillCheckpoint.objects.get().position == 2
    monkeypatch.setattr(history, "order_values", read)

    resumed = backfill("--batch-size", "1")

    assert "Resumed after row 2." in resumed
    assert "6 rows read: imported 4 orders" in resumed
    # The draft is not an order; every other one is stored as Saleor has it.
    assert not PurchasedOrder.objects.filter(order_id=str(shop["draft"].pk)).exists()
    assert PurchasedOrder.objects.count() == 6
    for name in ("refunded", "cancelled", "voucher", "unconfirmed", "pln"):
        assert_row_matches(shop[name])
    guest_key = "email:later.customer@example.com"
    assert_row_matches(shop["guest"], customer_key=guest_key)

    # Hand-worked figures of the shop above.
    amounts = {
        name: PurchasedOrder.objects.get(order_id=str(shop[name].pk)).net_goods_amount
        for name in ("refunded", "cancelled", "guest", "voucher", "unconfirmed", "pln")
    }
    assert amounts == {
        "refunded": Decimal("35.00"),  # (3 x 10 + 2 x 20) x (1 - 43.05 / 86.10)
        "cancelled": Decimal("0.00"),
        "guest": Decimal("40.00"),  # 2 x 15 + 1 x 10
        "voucher": Decimal("20.00"),  # 4 x 10 - 20
        "unconfirmed": Decimal("20.00"),
        "pln": Decimal("70.00"),  # 3 x 10 + 2 x 20 PLN
    }

    # Running it again reads everything and changes nothing; so does a run from scratch.
    before = stored_history()
    assert "imported 0 orders" in backfill("--batch-size", "1")
    BackfillCheckpoint.objects.all().delete()
    assert "6 rows read: imported 6 orders" in backfill()
    assert stored_history() == before


def test_channel_and_dates_choose_the_orders(shop):
    out = backfill("--channel", shop["pln"].channel.slug)

    assert "1 rows read: imported 1 orders" in out
    assert list(PurchasedOrder.objects.values_list("order_id", flat=True)) == [str(shop["pln"].pk)]
    assert_row_matches(shop["pln"])

    # February: the guest, voucher and unconfirmed orders (the draft is not an order).
    out = backfill("--since", "2024-02-01", "--until", "2024-03-01")

    assert "3 rows read: imported 3 orders" in out
    february = {str(shop[name].pk) for name in ("guest", "voucher", "unconfirmed")}
    assert set(PurchasedOrder.objects.values_list("order_id", flat=True)) == {
        str(shop["pln"].pk),
        *february,
    }
    # --until is exclusive: an order placed at that very moment is left for the next run.
    Order.objects.filter(pk=shop["pln"].pk).update(created_at=moment("2024-03-01"))
    assert "3 rows read" in backfill("--since", "2024-02-02", "--until", "2024-03-01")


def test_a_guest_order_follows_the_email_to_the_customer_who_confirms_it(
    shop, enable_retention_plugin, django_capture_on_commit_callbacks
):
    enable_retention_plugin()
    backfill()
    guest_row = PurchasedOrder.objects.get(order_id=str(shop["guest"].pk))
    assert guest_row.customer_key == "email:later.customer@example.com"

    with django_capture_on_commit_callbacks(execute=True):
        user = User(email="later.customer@example.com", is_confirmed=True)
        user.set_password("secret-123")
        user.save()

    guest_row.refresh_from_db()
    assert (guest_row.customer_key, guest_row.customer_id) == (f"customer:{user.pk}", user.pk)
    # A later backfill from scratch still reads the order as a guest's in Saleor; it must
    # not split the customer again.
    BackfillCheckpoint.objects.all().delete()
    backfill()
    guest_row.refresh_from_db()
    assert (guest_row.customer_key, guest_row.customer_id) == (f"customer:{user.pk}", user.pk)


def test_credit_points_dry_run_prints_the_points_and_changes_nothing(
    shop, enable_retention_plugin, customer_user
):
    enable_retention_plugin()  # USD: 1 point per currency unit; PLN: the defaults, the same

    out = backfill("--credit-points", "--dry-run")

    assert not PurchasedOrder.objects.exists()
    assert not BackfillCheckpoint.objects.exists()
    assert not LoyaltyAccount.objects.exists()
    assert not PointsEntry.objects.exists()
    # Counted orders earn floor(net goods): USD 35 + 20 for the customer, 40 for the guest,
    # PLN 70 for the customer; the cancelled and unconfirmed orders earn nothing.
    usd, pln = shop["refunded"].channel.slug, shop["pln"].channel.slug
    customer = f"customer:{customer_user.pk}"
    assert f"  {usd} {customer}: 55 points" in out
    assert f"  {usd} email:later.customer@example.com: 40 points" in out
    assert f"  {pln} {customer}: 70 points" in out
    assert "Would credit 165 points in total." in out

    # The real run credits exactly what the dry run announced, once.
    assert "Credited 165 points in total." in backfill("--credit-points")
    assert sum(LoyaltyAccount.objects.values_list("balance", flat=True)) == 165
    BackfillCheckpoint.objects.all().delete()
    assert "Credited 0 points in total." in backfill("--credit-points")
    assert sum(LoyaltyAccount.objects.values_list("balance", flat=True)) == 165
