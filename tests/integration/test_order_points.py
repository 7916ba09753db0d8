"""Orders drive the ledger: earn once, take back on cancellation and refunds, in any order."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from saleor_retention_plugin.conf import CreditTrigger, OverdraftPolicy
from saleor_retention_plugin.domain.orders import order_event_syncs_points
from saleor_retention_plugin.models import LoyaltyAccount, PointsEntry
from saleor_retention_plugin.services import ledger
from saleor_retention_plugin.services.ledger import InsufficientPoints

from .conftest import assert_ledger_consistent, later, ledger_state

pytestmark = pytest.mark.django_db


def account_of(customer_id: int = 42) -> LoyaltyAccount:
    return LoyaltyAccount.objects.get(customer_id=customer_id)


def summary(account: LoyaltyAccount, **kwargs):
    account.refresh_from_db()
    return ledger.summarise_account(account, **kwargs)


# --- earning ------------------------------------------------------------------------------


def test_paid_order_earns_one_point_per_currency_unit_of_its_goods(make_order, make_settings):
    order = make_order(points_base_amount="99.99", total_amount="115.00")

    outcome = ledger.sync_order_points(order, make_settings())

    assert outcome.earned == 99  # goods after discounts, rounded down; not the 115 paid
    account = account_of()
    assert summary(account).balance == summary(account).spendable == 99
    assert account.lifetime_earned == 99
    entry = account.entries.get()
    assert (entry.kind, entry.points, entry.order_id) == ("earn", 99, order.order_id)
    assert entry.order_number == order.number
    assert_ledger_consistent(account)


def test_order_earns_once_though_created_paid_and_updated_events_arrive_several_times(
    make_order, make_settings
):
    settings = make_settings(credit_trigger=CreditTrigger.ORDER_CREATED)
    created = make_order(is_fully_paid=False)
    paid = later(created, is_fully_paid=True)
    fulfilled = later(paid, status="fulfilled")

    outcomes = [
        ledger.sync_order_points(event, settings)
        for event in (created, created, paid, fulfilled, paid, created)
    ]

    assert [outcome.earned for outcome in outcomes] == [100, 0, 0, 0, 0, 0]
    assert account_of().balance == 100
    assert PointsEntry.objects.for_order(created.order_id).count() == 1


@pytest.mark.parametrize(
    ("trigger", "earned_when_placed", "earned_when_paid"),
    [
        (CreditTrigger.ORDER_CREATED, 100, 0),
        (CreditTrigger.ORDER_FULLY_PAID, 0, 100),
    ],
)
def test_the_credit_trigger_decides_when_the_order_earns(
    make_order, make_settings, trigger, earned_when_placed, earned_when_paid
):
    settings = make_settings(credit_trigger=trigger)
    placed = make_order(is_fully_paid=False)

    when_placed = ledger.sync_order_points(placed, settings)
    when_paid = ledger.sync_order_points(later(placed, is_fully_paid=True), settings)

    assert (when_placed.earned, when_paid.earned) == (earned_when_placed, earned_when_paid)
    assert account_of().balance == 100


def test_unpaid_order_waiting_for_payment_creates_nothing(make_order, make_settings):
    outcome = ledger.sync_order_points(make_order(is_fully_paid=False), make_settings())

    assert outcome.skipped_reason == "not yet qualifying"
    assert not LoyaltyAccount.objects.exists()
    assert not PointsEntry.objects.exists()


@pytest.mark.parametrize("status", ["draft", "unconfirmed", "expired"])
def test_orders_that_are_not_real_yet_never_earn(make_order, make_settings, status):
    settings = make_settings(credit_trigger=CreditTrigger.ORDER_CREATED)

    outcome = ledger.sync_order_points(make_order(status=status), settings)

    assert outcome.earned == 0
    assert not PointsEntry.objects.exists()


def test_rate_and_rounding_follow_the_channel_settings(make_order, make_settings):
    settings = make_settings(points_per_currency_unit=2)

    outcome = ledger.sync_order_points(make_order(points_base_amount="10.75"), settings)

    assert outcome.earned == 21


def test_multiplier_for_the_account_scales_the_points(make_order, make_settings):
    outcome = ledger.sync_order_points(
        make_order(points_base_amount="10.50"),
        make_settings(),
        multiplier_for_account=lambda account: Decimal(2),
    )

    assert outcome.earned == 21


# --- pending period -----------------------------------------------------------------------


def test_points_are_visible_at_once_but_spendable_only_after_the_pending_days(
    make_order, make_settings
):
    settings = make_settings(pending_days=14)
    with time_machine.travel(datetime(2026, 3, 1, 10, tzinfo=UTC), tick=False):
        ledger.sync_order_points(make_order(), settings)
        account = account_of()

        shown = summary(account)
        assert (shown.balance, shown.pending, shown.spendable) == (100, 100, 0)
        with pytest.raises(InsufficientPoints):
            ledger.spend_points(account.pk, 1, idempotency_key="too-early")

    with time_machine.travel(datetime(2026, 3, 15, 9, 59, tzinfo=UTC), tick=False):
        assert summary(account).spendable == 0
        with pytest.raises(InsufficientPoints):
            ledger.spend_points(account.pk, 1, idempotency_key="still-too-early")

    with time_machine.travel(datetime(2026, 3, 15, 10, tzinfo=UTC), tick=False):
        assert summary(account).spendable == 100
        ledger.spend_points(account.pk, 100, idempotency_key="on-time")
        assert summary(account).balance == 0


# --- cancellation and refunds -------------------------------------------------------------


def test_cancelled_order_takes_back_all_its_points(make_order, make_settings):
    order = make_order()
    settings = make_settings()
    ledger.sync_order_points(order, settings)

    outcome = ledger.sync_order_points(later(order, status="canceled"), settings)
    again = ledger.sync_order_points(later(order, status="canceled"), settings)

    assert (outcome.taken_back, again.taken_back) == (100, 0)
    account = account_of()
    assert account.balance == 0
    # Lifetime points count what orders earned net of what they took back (issue 7, item
    # 5); the entries keep the history.
    assert account.lifetime_earned == 0
    assert sorted(account.entries.values_list("kind", "points")) == [
        ("earn", 100),
        ("reverse", -100),
    ]
    assert_ledger_consistent(account)


def test_cancelled_pending_points_are_taken_back_before_they_become_spendable(
    make_order, make_settings
):
    settings = make_settings(pending_days=30)
    order = make_order()
    ledger.sync_order_points(order, settings)

    ledger.sync_order_points(later(order, status="canceled"), settings)

    shown = summary(account_of())
    assert (shown.balance, shown.pending, shown.spendable) == (0, 0, 0)


def test_partial_refunds_take_back_proportionally_and_cumulatively(make_order, make_settings):
    settings = make_settings()
    order = make_order(total_amount="120.00")  # earns 100 on 100 of goods
    ledger.sync_order_points(order, settings)

    first = ledger.sync_order_points(later(order, refunded_amount="30.00"), settings)
    repeated = ledger.sync_order_points(later(order, refunded_amount="30.00"), settings)
    second = ledger.sync_order_points(later(order, refunded_amount="60.00"), settings)
    full = ledger.sync_order_points(later(order, refunded_amount="120.00"), settings)

    assert [first.taken_back, repeated.taken_back, second.taken_back, full.taken_back] == [
        25,
        0,
        25,
        50,
    ]
    assert account_of().balance == 0
    assert_ledger_consistent(account_of())


def test_a_stale_event_after_a_refund_gives_nothing_back(make_order, make_settings):
    settings = make_settings()
    order = make_order()
    ledger.sync_order_points(later(order, refunded_amount="60.00"), settings)

    ledger.sync_order_points(order, settings)  # the paid event, delivered late

    assert account_of().balance == 50


@pytest.mark.parametrize(
    ("events", "balance"),
    [
        ([{"refunded_amount": "60.00"}, {}], 50),
        ([{"status": "canceled"}, {}], 0),
        ([{"refunded_amount": "120.00"}, {"refunded_amount": "30.00"}, {}], 0),
        ([{"refunded_amount": "30.00"}, {"status": "canceled"}, {}], 0),
    ],
    ids=["refund-then-paid", "cancel-then-paid", "full-refund-then-older", "refund-cancel-paid"],
)
def test_events_out_of_order_end_in_the_state_of_the_latest_order(
    make_order, make_settings, events, balance
):
    settings = make_settings()
    order = make_order()

    for changes in events:
        ledger.sync_order_points(later(order, **changes), settings)

    account = account_of()
    assert account.balance == balance
    assert account.entries.filter(kind="earn").count() == 1
    assert_ledger_consistent(account)


def test_order_cancelled_before_payment_never_earns(make_order, make_settings):
    settings = make_settings()
    order = make_order(is_fully_paid=False)

    ledger.sync_order_points(later(order, status="canceled"), settings)

    assert not PointsEntry.objects.exists()


# --- points already spent -----------------------------------------------------------------


def test_allow_negative_lets_a_take_back_overdraw_and_later_earnings_repay_it(
    make_order, make_settings
):
    settings = make_settings(overdraft_policy=OverdraftPolicy.ALLOW_NEGATIVE)
    order = make_order()
    ledger.sync_order_points(order, settings)
    ledger.spend_points(account_of().pk, 80, idempotency_key="voucher-1")

    outcome = ledger.sync_order_points(later(order, status="canceled"), settings)

    assert (outcome.taken_back, outcome.written_off) == (100, 0)
    assert summary(account_of()).balance == -80
    assert summary(account_of()).spendable == -80

    ledger.sync_order_points(make_order(points_base_amount="50"), settings)
    assert (summary(account_of()).balance, summary(account_of()).spendable) == (-30, -30)
    with pytest.raises(InsufficientPoints):
        ledger.spend_points(account_of().pk, 1, idempotency_key="while-in-debt")

    ledger.sync_order_points(make_order(points_base_amount="45"), settings)
    assert (summary(account_of()).balance, summary(account_of()).spendable) == (15, 15)
    assert_ledger_consistent(account_of())
    ledger.spend_points(account_of().pk, 15, idempotency_key="after-repaying")
    assert account_of().balance == 0


def test_clamp_to_zero_takes_what_is_left_and_records_the_rest_as_written_off(
    make_order, make_settings
):
    settings = make_settings(overdraft_policy=OverdraftPolicy.CLAMP_TO_ZERO)
    order = make_order()
    ledger.sync_order_points(order, settings)
    ledger.spend_points(account_of().pk, 80, idempotency_key="voucher-1")

    outcome = ledger.sync_order_points(later(order, status="canceled"), settings)
    again = ledger.sync_order_points(later(order, status="canceled"), settings)

    assert (outcome.taken_back, outcome.written_off) == (20, 80)
    assert (again.taken_back, again.written_off) == (0, 0)
    account = account_of()
    assert account.balance == 0
    reverse = account.entries.get(kind="reverse")
    assert (reverse.points, reverse.written_off) == (-20, 80)

    ledger.sync_order_points(make_order(points_base_amount="50"), settings)
    assert summary(account_of()).spendable == 50  # nothing owed: the next order counts in full
    assert_ledger_consistent(account_of())


def test_clamp_to_zero_counts_written_off_points_towards_later_refunds(make_order, make_settings):
    settings = make_settings(overdraft_policy=OverdraftPolicy.CLAMP_TO_ZERO)
    order = make_order()
    ledger.sync_order_points(order, settings)
    ledger.spend_points(account_of().pk, 90, idempotency_key="voucher-1")

    half = ledger.sync_order_points(later(order, refunded_amount="60.00"), settings)
    ledger.sync_order_points(make_order(points_base_amount="40"), settings)
    rest = ledger.sync_order_points(later(order, refunded_amount="120.00"), settings)

    assert (half.taken_back, half.written_off) == (10, 40)
    assert (rest.taken_back, rest.written_off) == (40, 10)  # 50 more, 40 of them there
    assert account_of().balance == 0
    assert_ledger_consistent(account_of())


def test_take_back_uses_the_orders_own_points_first(make_order, make_settings):
    settings = make_settings(expiry_months=12)
    older = make_order(points_base_amount="50")
    with time_machine.travel(datetime(2026, 1, 1, tzinfo=UTC), tick=False):
        ledger.sync_order_points(older, settings)
    newer = make_order(points_base_amount="50")
    with time_machine.travel(datetime(2026, 2, 1, tzinfo=UTC), tick=False):
        ledger.sync_order_points(newer, settings)
        ledger.sync_order_points(later(newer, status="canceled"), settings)

    remaining = dict(account_of().lots.values_list("order_id", "remaining"))
    assert remaining == {older.order_id: 50, newer.order_id: 0}


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"currency": "EUR"}, "order currency EUR is not the channel currency USD"),
        ({"customer_id": None, "email": None}, "a guest order without an email address"),
        ({"customer_id": None, "email": "  "}, "a guest order without an email address"),
        ({"customer_id": None, "email": "not-an-email"}, "a guest order without an email address"),
        ({"points_base_amount": "-10"}, "negative amounts"),
        ({"total_amount": "-1"}, "negative amounts"),
        ({"refunded_amount": "-5"}, "negative amounts"),
    ],
)
def test_bad_order_is_skipped_with_a_reason_and_changes_nothing(
    make_order, make_settings, changes, reason
):
    outcome = ledger.sync_order_points(make_order(**changes), make_settings())

    assert outcome.skipped_reason == reason
    assert outcome.earned == outcome.taken_back == 0
    assert not LoyaltyAccount.objects.exists()
    assert not PointsEntry.objects.exists()


def test_bad_later_event_does_not_undo_what_the_order_earned(make_order, make_settings):
    settings = make_settings()
    order = make_order()
    ledger.sync_order_points(order, settings)

    ledger.sync_order_points(later(order, currency="EUR", status="canceled"), settings)

    assert account_of().balance == 100


@pytest.mark.parametrize(
    ("base", "total"), [("0", "0"), ("0.99", "1.20"), ("0", "15.00")], ids=["free", "tiny", "ship"]
)
def test_order_worth_less_than_a_point_earns_nothing(make_order, make_settings, base, total):
    order = make_order(points_base_amount=base, total_amount=total)

    outcome = ledger.sync_order_points(order, make_settings())
    cancelled = ledger.sync_order_points(later(order, status="canceled"), make_settings())

    assert (outcome.earned, cancelled.taken_back) == (0, 0)
    assert not PointsEntry.objects.exists()


def test_rate_zero_switches_earning_off(make_order, make_settings):
    outcome = ledger.sync_order_points(make_order(), make_settings(points_per_currency_unit=0))

    assert outcome.earned == 0
    assert not PointsEntry.objects.exists()


# --- merged and anonymised accounts keep their orders ---------------------------------------


def test_refund_of_a_guest_order_after_the_guest_registered_takes_from_the_customer(
    make_order, make_settings
):
    settings = make_settings()
    guest_order = make_order(customer_id=None, email="Bob@Example.com")
    ledger.sync_order_points(guest_order, settings)
    ledger.merge_guest_accounts(7, "bob@example.com")

    # Saleor keeps the guest order as it was: no user, the email it was placed with.
    outcome = ledger.sync_order_points(later(guest_order, status="canceled"), settings)

    customer = account_of(7)
    assert outcome.account_id == customer.pk
    assert customer.balance == 0
    assert LoyaltyAccount.objects.filter(customer_id=None, merged_into=None).count() == 0
    assert_ledger_consistent(customer)


def test_refund_after_the_customer_was_anonymised_stays_on_the_anonymised_account(
    make_order, make_settings
):
    settings = make_settings()
    order = make_order()
    ledger.sync_order_points(order, settings)
    account_id = account_of().pk
    ledger.anonymise_customer(42, "ann@example.com")

    ledger.sync_order_points(later(order, status="canceled"), settings)

    assert LoyaltyAccount.objects.count() == 1
    anonymised = LoyaltyAccount.objects.get(pk=account_id)
    assert (anonymised.customer_id, anonymised.email, anonymised.balance) == (None, None, 0)


def test_ledger_state_helper_matches_summary(funded_account):
    account = funded_account(30)

    assert ledger_state(account)["balance"] == summary(account).balance == 30


@pytest.mark.parametrize("field", ["points_base_amount", "total_amount", "refunded_amount"])
def test_an_absurdly_large_order_is_skipped_without_touching_the_ledger(
    make_order, make_settings, field
):
    order = make_order(**{field: "1000000000000.01"})

    outcome = ledger.sync_order_points(order, make_settings(points_per_currency_unit="1000"))

    assert "above" in outcome.skipped_reason
    assert not LoyaltyAccount.objects.exists()
    assert not PointsEntry.objects.exists()


def test_returning_every_item_takes_back_every_point_even_when_shipping_is_kept(
    make_order, make_settings
):
    # 100 of goods (108 with tax) and 12 of shipping; the shop refunds the goods only.
    order = make_order(total_amount="120.00", goods_amount="108.00")
    settings = make_settings()
    ledger.sync_order_points(order, settings)

    ledger.sync_order_points(later(order, refunded_amount="108.00"), settings)

    assert account_of().balance == 0


def test_a_partial_refund_is_a_share_of_the_goods_not_of_the_shipping(make_order, make_settings):
    order = make_order(total_amount="120.00", goods_amount="100.00")
    settings = make_settings()
    ledger.sync_order_points(order, settings)

    ledger.sync_order_points(later(order, refunded_amount="25.00"), settings)

    assert account_of().balance == 75


def test_an_order_first_seen_cancelled_is_never_announced(
    make_order, make_settings, received_signals, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ledger.sync_order_points(make_order(status="canceled"), make_settings())

    assert account_of().balance == 0
    # No "you earned 100 points" for points the customer never had, and no take-back.
    assert received_signals.calls == []


def test_a_cancellation_after_the_credit_is_announced(
    make_order, make_settings, received_signals, django_capture_on_commit_callbacks
):
    order = make_order()
    with django_capture_on_commit_callbacks(execute=True):
        ledger.sync_order_points(order, make_settings())
        ledger.sync_order_points(later(order, status="canceled"), make_settings())

    assert [name for name, _ in received_signals.calls] == ["points_earned", "points_reversed"]


def test_a_trigger_switch_never_loses_the_credit_of_an_order_paid_after_it():
    # Placed while the trigger was "fully paid", paid after the merchant switched to
    # "created": the paid event must still sync, or the order never earns.
    assert order_event_syncs_points("order_fully_paid", CreditTrigger.ORDER_CREATED.value)
    assert order_event_syncs_points("order_fully_paid", CreditTrigger.ORDER_FULLY_PAID.value)
    assert not order_event_syncs_points("order_created", CreditTrigger.ORDER_FULLY_PAID.value)
