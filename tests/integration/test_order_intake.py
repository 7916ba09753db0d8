"""One order, one truth: the order intake against PostgreSQL (issue 7, items 1-7).

Each numbered example of the issue is a test here with the issue's values. Orders are
the snapshots the Saleor converter builds (goods from the lines, refunds itemised where
Saleor itemises them), applied through ``apply_order`` as every order task does.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from saleor_retention_plugin.conf import (
    ChannelSettings,
    LedgerSettings,
    MembershipSettings,
    TierBasis,
)
from saleor_retention_plugin.domain.carts import CartActivity
from saleor_retention_plugin.domain.orders import OrderLineSnapshot, OrderSnapshot
from saleor_retention_plugin.models import (
    CustomerTier,
    LoyaltyAccount,
    PointsLot,
    PurchasedOrder,
    QualifyingOrder,
    Redemption,
    TrackedCart,
)
from saleor_retention_plugin.services import carts, ledger, mall, tiers
from saleor_retention_plugin.services.codes import PlainCodeIssuer
from saleor_retention_plugin.services.ledger_audit import find_balance_drift
from saleor_retention_plugin.services.order_intake import ORDER_PARTS, apply_order

pytestmark = pytest.mark.django_db

CHANNEL = "main"
CUSTOMER = 7


def order(**changes: Any) -> OrderSnapshot:
    """A paid order of 100 of goods (net, 123 gross) and 20 of shipping (24.60 gross)."""
    values: dict[str, Any] = {
        "order_id": str(uuid.uuid4()),
        "number": "1",
        "channel_slug": CHANNEL,
        "channel_currency": "USD",
        "currency": "USD",
        "customer_id": CUSTOMER,
        "email": "ann@example.com",
        "status": "unfulfilled",
        "is_fully_paid": True,
        "points_base_amount": Decimal("100"),
        "goods_amount": Decimal("123"),
        "total_amount": Decimal("147.60"),
        "refunded_amount": Decimal(0),
        "created_at": timezone.now(),
    }
    values.update(amounts(changes))
    return OrderSnapshot(**values)


def later(snapshot: OrderSnapshot, **changes: Any) -> OrderSnapshot:
    """The same order as Saleor reports it after something happened to it."""
    return dataclasses.replace(snapshot, **amounts(changes))


def amounts(changes: dict[str, Any]) -> dict[str, Any]:
    return {
        name: Decimal(value) if name.endswith("_amount") and value is not None else value
        for name, value in changes.items()
    }


def account() -> LoyaltyAccount:
    return LoyaltyAccount.objects.get(channel_slug=CHANNEL, customer_id=CUSTOMER)


def tier_of(account_id: int) -> str:
    return CustomerTier.objects.select_related("tier").get(account_id=account_id).tier.code


SETTINGS = ChannelSettings()


class TestRefundsOfShipping:
    """Item 1: a refund of shipping only takes no goods points."""

    def test_a_refund_of_shipping_only_takes_nothing_back(self):
        placed = order()
        assert apply_order(placed, SETTINGS).earned == 100

        outcome = apply_order(
            later(placed, refunded_amount="24.60", refunded_shipping_amount="24.60"), SETTINGS
        )

        assert outcome.taken_back == 0
        assert account().balance == 100
        assert outcome.net_goods_amount == Decimal("100.00")

    def test_a_refund_saleor_did_not_itemise_counts_as_goods_first(self):
        # The documented rule for a bare amount (the legacy orderRefund): goods first.
        placed = order()
        apply_order(placed, SETTINGS)

        outcome = apply_order(later(placed, refunded_amount="24.60"), SETTINGS)

        assert outcome.taken_back == 20  # 24.60 of 123 paid for the goods
        assert account().balance == 80

    def test_refunding_every_item_and_the_shipping_takes_back_every_point(self):
        placed = order()
        apply_order(placed, SETTINGS)

        outcome = apply_order(
            later(
                placed,
                refunded_amount="147.60",
                refunded_goods_amount="123",
                refunded_shipping_amount="24.60",
            ),
            SETTINGS,
        )

        assert outcome.taken_back == 100
        assert (account().balance, account().lifetime_earned) == (0, 0)


class TestGiftCards:
    """Item 2: goods paid with a gift card earn like goods paid with money."""

    @pytest.mark.parametrize(
        ("gift_card_paid", "order_total"), [("50", "60"), ("110", "0")], ids=["half", "all"]
    )
    def test_goods_paid_with_a_gift_card_earn_in_full(self, gift_card_paid, order_total):
        # 100 of goods and 10 of shipping, no tax; Saleor lowers the total by the card.
        paid = order(
            points_base_amount="100",
            goods_amount="100",
            total_amount=order_total,
            gift_card_paid_amount=gift_card_paid,
        )

        outcome = apply_order(paid, SETTINGS)

        assert outcome.earned == 100
        assert account().balance == 100

    def test_buying_a_gift_card_earns_nothing(self):
        card = OrderLineSnapshot("l1", "v1", "p1", "t1", "c1", "GIFT-50", 1, Decimal(50), True)
        # The converter counts goods from the lines, without gift-card lines.
        bought = order(points_base_amount="0", goods_amount="0", total_amount="50", lines=(card,))

        outcome = apply_order(bought, SETTINGS)

        assert outcome.earned == 0
        assert outcome.net_goods_amount == Decimal("0.00")


class TestTierProgress:
    AMOUNT = ChannelSettings(
        membership=MembershipSettings(
            tier_basis=TierBasis.AMOUNT_SPENT, tier_downgrade_grace_days=0
        )
    )

    def test_a_returned_order_counts_nothing_towards_an_amount_tier(self):
        """Item 3: Silver needs 1000; 1000 of goods + 200 shipping, every item refunded."""
        tiers.seed_default_tiers(CHANNEL, self.AMOUNT.membership)
        returned = order(points_base_amount="1000", goods_amount="1000", total_amount="1200")
        apply_order(returned, self.AMOUNT)
        apply_order(later(returned, refunded_amount="1000"), self.AMOUNT)
        # Re-evaluated daily with no grace: the returned order no longer holds Silver.
        tiers.reevaluate_channel(CHANNEL, settings=self.AMOUNT.membership)

        apply_order(
            order(points_base_amount="900", goods_amount="900", total_amount="900"), self.AMOUNT
        )

        assert QualifyingOrder.objects.get(order_id=returned.order_id).amount_spent == 0
        assert tier_of(account().pk) == "member"

    def test_a_stale_paid_event_after_the_cancellation_counts_nothing(self):
        """Item 4: paid(1200), cancelled, then the paid snapshot again: 0 spent, Member."""
        tiers.seed_default_tiers(CHANNEL, self.AMOUNT.membership)
        paid = order(points_base_amount="1200", goods_amount="1200", total_amount="1200")

        apply_order(paid, self.AMOUNT)
        apply_order(later(paid, status="canceled"), self.AMOUNT)
        apply_order(paid, self.AMOUNT)
        tiers.reevaluate_channel(CHANNEL, settings=self.AMOUNT.membership)

        assert QualifyingOrder.objects.get(order_id=paid.order_id).amount_spent == 0
        assert tier_of(account().pk) == "member"
        assert account().balance == 0

    def test_an_unpaid_snapshot_delivered_late_lowers_nothing(self):
        paid = order(points_base_amount="1200", goods_amount="1200", total_amount="1200")
        apply_order(paid, self.AMOUNT)

        apply_order(later(paid, is_fully_paid=False), self.AMOUNT)

        assert QualifyingOrder.objects.get(order_id=paid.order_id).amount_spent == 1200
        assert tier_of(account().pk) == "silver"


class TestLifetimePoints:
    def test_a_cancelled_order_leaves_no_lifetime_points(self, loyalty_api, customer_token):
        """Item 5: earn 3, staff cancel: balance, spendable, pending and lifetime all 0."""
        placed = order(points_base_amount="3", goods_amount="3", total_amount="3")
        apply_order(placed, SETTINGS)
        apply_order(later(placed, status="canceled"), SETTINGS)

        response = loyalty_api.post(
            "{ myLoyaltyAccount { balance spendablePoints pendingPoints lifetimePoints } }",
            token=customer_token(user_id=CUSTOMER).token,
        )

        assert response.data["myLoyaltyAccount"] == {
            "balance": 0,
            "spendablePoints": 0,
            "pendingPoints": 0,
            "lifetimePoints": 0,
        }
        # What the metadata mirror copies.
        assert ledger.summarise_account(account()).lifetime_earned == 0
        assert find_balance_drift() == []

    def test_a_partial_refund_lowers_lifetime_points_by_what_it_took_back(self):
        placed = order()
        apply_order(placed, SETTINGS)
        apply_order(later(placed, refunded_amount="61.50"), SETTINGS)  # half the goods

        assert (account().balance, account().lifetime_earned) == (50, 50)


class TestRewardCodes:
    def test_a_code_used_on_a_cancelled_order_gives_its_points_back(self, account_with_points):
        """Item 6: redeem 500 for a code, use it, cancel the order, let the code expire."""
        customer = account_with_points(500, customer_id=CUSTOMER)
        reward = mall.create_reward(
            CHANNEL,
            kind="fixed_discount",
            name={"en": "10 off"},
            points_cost=500,
            discount_value="10",
            stock=3,
        )
        now = timezone.now()
        redemption = mall.redeem_reward(
            customer, reward.pk, "r-1", issuer=PlainCodeIssuer(), now=now
        )
        used = order(voucher_code=redemption.code)
        apply_order(used, SETTINGS)
        redemption.refresh_from_db()
        assert redemption.status == Redemption.Status.USED

        outcome = apply_order(later(used, status="canceled"), SETTINGS)
        mall.expire_unused_codes(issuer=PlainCodeIssuer(), now=now + timedelta(days=31))
        apply_order(later(used, status="canceled"), SETTINGS)  # delivered again

        redemption.refresh_from_db()
        customer.refresh_from_db()
        assert outcome.reward_codes_given_back == 1
        assert redemption.status == Redemption.Status.REFUNDED
        assert customer.balance == 500  # the order's own points came and went
        refund = mall.redemptions_of(customer).get().refund_entry
        assert refund is not None
        assert refund.points == 500
        assert type(reward).objects.get(pk=reward.pk).stock == 3


class TestExpiryRacingAGuestMerge:
    def test_a_lot_listed_before_the_merge_expires_on_the_customer(self):
        """Item 7: the sweep listed the guest's lot; the merge came before it was processed."""
        now = timezone.now()
        guest_order = order(customer_id=None, email="guest@example.com")
        settings = LedgerSettings(expiry_months=1)
        ledger.sync_order_points(guest_order, settings, now=now - timedelta(days=70))
        # What the sweep read before the merge.
        lot_id, guest_id = PointsLot.objects.expired_by(now).values_list("pk", "account_id").get()

        ledger.merge_guest_accounts(CUSTOMER, "guest@example.com")
        expired = ledger.expire_lot(lot_id, guest_id, now)

        customer = ledger.account_for(CHANNEL, CUSTOMER, None)
        guest = LoyaltyAccount.objects.get(pk=guest_id)
        assert expired == 100
        assert (customer.balance, guest.balance) == (0, 0)
        assert customer.entries.filter(kind="expire").get().points == -100
        assert find_balance_drift() == []


class TestOneTransactionOneRead:
    def test_the_parts_an_order_is_applied_to(self):
        assert [name for name, _ in ORDER_PARTS] == [
            "points",
            "tiers",
            "reward_codes",
            "carts",
            "purchases",
            "flows",
        ]

    def test_the_purchase_history_keeps_what_the_ledger_earns_on(self):
        """Issue 9: the history is written by the intake, in the ledger's transaction,
        with the same net goods amount; a later refund of half the goods lowers both.
        """
        placed = order(
            voucher_code="SPRING",
            lines=(
                OrderLineSnapshot(
                    line_id="l1",
                    variant_id="v1",
                    product_id="p1",
                    product_type_id="t1",
                    category_id="c1",
                    sku="SKU-1",
                    quantity=2,
                    unit_price_net=Decimal("50"),
                    is_gift_card=False,
                ),
            ),
        )

        apply_order(placed, SETTINGS)
        apply_order(later(placed, refunded_amount="61.50"), SETTINGS)
        apply_order(later(placed, refunded_amount="61.50"), SETTINGS)

        stored = PurchasedOrder.objects.get(order_id=placed.order_id)
        assert stored.customer_key == f"customer:{CUSTOMER}"
        assert stored.net_goods_amount == Decimal("50.00")
        assert stored.used_voucher is True
        assert list(stored.lines.values_list("sku", "quantity")) == [("SKU-1", 2)]
        assert account().balance == 50

    def test_a_guest_order_joins_the_customer_when_the_guest_account_merges(self):
        guest_order = order(customer_id=None, email="Guest@Example.com")
        apply_order(guest_order, SETTINGS)

        ledger.merge_guest_accounts(CUSTOMER, "guest@example.com")

        stored = PurchasedOrder.objects.get(order_id=guest_order.order_id)
        assert (stored.customer_key, stored.customer_id) == (f"customer:{CUSTOMER}", CUSTOMER)

    def test_the_order_stops_its_cart_in_the_same_intake(self):
        token = str(uuid.uuid4())
        placed = order(checkout_token=token)
        carts.record_cart_activity(
            CartActivity(
                checkout_token=token,
                channel_slug=CHANNEL,
                customer_id=CUSTOMER,
                email="ann@example.com",
                language_code="en",
                currency="USD",
                occurred_at=timezone.now(),
            ),
            SETTINGS,
        )

        apply_order(placed, SETTINGS)

        assert TrackedCart.objects.get(checkout_token=token).state == "converted"

    @pytest.mark.parametrize("email_verified", [False, True], ids=["email", "confirmed email"])
    def test_a_paid_order_costs_a_fixed_number_of_queries(self, email_verified):
        # A confirmed email also looks for the email's guest accounts to take in: in the
        # same statement that locks the customer's account.
        tiers.seed_default_tiers(CHANNEL, SETTINGS.membership)
        apply_order(
            order(), SETTINGS
        )  # the account and its tier exist, as for a returning customer
        placed = order(checkout_token=str(uuid.uuid4()), email_verified=email_verified)

        with CaptureQueriesContext(connection) as first:
            apply_order(placed, SETTINGS)
        with CaptureQueriesContext(connection) as repeated:
            apply_order(placed, SETTINGS)

        assert len(first) == FIRST_DELIVERY_QUERIES, [q["sql"][:60] for q in first]
        assert len(repeated) == REPEATED_DELIVERY_QUERIES, [q["sql"][:60] for q in repeated]


# Measured against PostgreSQL for a returning customer (tiers seeded, a cart to stop):
# the count includes the intake's own transaction and the cart service's savepoint (two
# statements each). Before the intake, the same order ran two tasks with 6 savepoint
# pairs and read the account, tier, benefits, totals and entries twice. The purchase
# history adds one for a new order (upsert its row returning its id) and two for a known
# one (then replace its lines). The ledger finds the account with its row lock, the tiers
# use that locked row instead of reading and locking it again, and insert a first
# booking's qualifying order without reading first (issue 12: 27 and 10 before, then 20
# and 8). Then: the tier row comes with the account's lock, the ladder and the tier's
# multiplier are read once for points and tiers, a first booking's entry, lot and
# account totals are one statement whose unique key decides (no re-read under the lock),
# and an order that changes nothing of the tier row does not rewrite it. Issue 11: the
# carts are locked in one statement, without a savepoint; a first booking's qualifying
# order is inserted in the statement that reads the tier totals (9 measured, 10 before).
# Issue 12 again: the order's entries, the account locked with its tier row (and a
# confirmed email's guest accounts) and the ladder with its multipliers are one
# hand-written statement (services.order_opening): 7 and 7, from 9 and 8. Exact, so a
# statement added anywhere in the intake shows here.
FIRST_DELIVERY_QUERIES = 7
REPEATED_DELIVERY_QUERIES = 7


class TestTierTotalsFollowTheAccount:
    def test_the_totals_query_reads_only_the_accounts_own_orders(self):
        """Issue 12: the per-account totals used an OR across a join that scanned every
        qualifying order of the shop; its plan must use the indexes.
        """
        from django.test.utils import CaptureQueriesContext as Capture

        from saleor_retention_plugin.domain import tiers as rules

        now = timezone.now()
        accounts = LoyaltyAccount.objects.bulk_create(
            LoyaltyAccount(channel_slug=CHANNEL, customer_id=1000 + i) for i in range(2000)
        )
        QualifyingOrder.objects.bulk_create(
            QualifyingOrder(
                account=accounts[i % 2000],
                order_id=f"other-{i}",
                points_earned=1,
                amount_spent=1,
                currency="USD",
                placed_at=now,
            )
            for i in range(40000)
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        ladder = [rules.TierRule(1, 0, rules.Basis.POINTS_EARNED, Decimal(0), 12)]
        with Capture(connection) as queries:
            totals = tiers._totals(accounts[5].pk, ladder, now)
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + queries.captured_queries[0]["sql"])
            plan = "\n".join(row[0] for row in cursor.fetchall())

        assert totals[12].points_earned == 20
        assert "Seq Scan on saleor_retention_plugin_qualifyingorder" not in plan

    def test_a_first_bookings_insert_reads_the_totals_the_tables_then_hold(self):
        """Issue 11: the insert of an order's qualifying record and the read of the tier
        totals are one statement, whose read cannot see the row it inserts: the figures it
        returns must be those a read after the insert finds, in every window.
        """
        from saleor_retention_plugin.domain import tiers as rules
        from saleor_retention_plugin.domain.orders import order_value
        from saleor_retention_plugin.services.tiers.evaluation import _insert_first_record
        from saleor_retention_plugin.services.tiers.progress import _activity

        now = timezone.now()
        account = LoyaltyAccount.objects.create(channel_slug=CHANNEL, customer_id=CUSTOMER)
        for index, (days, points, amount) in enumerate(
            [(1, 10, "5.00"), (60, 0, "0"), (120, 20, "7.00"), (420, 40, "9.00"), (-1, 80, "11")]
        ):
            QualifyingOrder.objects.create(
                account=account,
                order_id=f"earlier-{index}",
                points_earned=points,
                amount_spent=Decimal(amount),
                currency="USD",
                placed_at=now - timedelta(days=days),
            )
        ladder = [
            rules.TierRule(1, 0, rules.Basis.POINTS_EARNED, Decimal(0), 0),
            rules.TierRule(2, 1, rules.Basis.POINTS_EARNED, Decimal(100), 3),
            rules.TierRule(3, 2, rules.Basis.AMOUNT_SPENT, Decimal(500), 12),
        ]
        # In every window; only in the longer ones (and older than their oldest order);
        # in the lifetime window only; placed after now (in none).
        for hours in (720, 3600, 9600, -2):
            placed = order(created_at=now - timedelta(hours=hours), points_base_amount="33.335")

            holder, activity = _insert_first_record(
                placed, account.pk, 30, order_value(placed), now, ladder
            )

            assert holder == account.pk
            assert activity == _activity(account.pk, ladder, now)
            again = _insert_first_record(placed, account.pk, 30, order_value(placed), now, ladder)
            assert again == (None, None)


class TestExistingLifetimePoints:
    def test_the_migration_takes_cancelled_orders_out_of_lifetime_points(self):
        import importlib

        from django.apps import apps

        migration = importlib.import_module("saleor_retention_plugin.migrations.0005_order_intake")
        placed = order()
        apply_order(placed, SETTINGS)
        apply_order(later(placed, status="canceled"), SETTINGS)
        apply_order(order(), SETTINGS)
        # As the ledger left it before lifetime points were net of take-backs.
        LoyaltyAccount.objects.filter(pk=account().pk).update(lifetime_earned=200)

        migration.recompute_net_points(apps, None)

        assert account().lifetime_earned == 100
        assert find_balance_drift() == []
