"""Guests earn by email and keep their points when they register; the deleted are forgotten."""

from __future__ import annotations

import pytest

from saleor_retention_plugin.models import LoyaltyAccount, PointsEntry
from saleor_retention_plugin.services import ledger
from saleor_retention_plugin.services.ledger import LedgerError
from saleor_retention_plugin.services.privacy import anonymise_customer_everywhere
from saleor_retention_plugin.tasks import anonymise_customer_task, merge_guest_accounts_task

from .conftest import CHANNEL, assert_ledger_consistent, later

pytestmark = pytest.mark.django_db


def guest_order(make_order, email: str, points: int = 100, **changes):
    return make_order(customer_id=None, email=email, points_base_amount=points, **changes)


def test_guest_earns_on_one_account_per_email_whatever_its_case(make_order, make_settings):
    settings = make_settings()
    for email in ["Bob@Example.com", "bob@example.com ", "BOB@EXAMPLE.COM"]:
        ledger.sync_order_points(guest_order(make_order, email, 10), settings)

    guest = LoyaltyAccount.objects.get()
    assert (guest.customer_id, guest.email, guest.balance) == (None, "bob@example.com", 30)


def test_registering_merges_the_guest_points_into_the_customer_once(make_order, make_settings):
    settings = make_settings()
    ledger.sync_order_points(guest_order(make_order, "bob@example.com", 40), settings)
    customer = ledger.account_for(CHANNEL, 7, None)
    ledger.adjust_points(
        customer.pk,
        5,
        reason="Welcome",
        actor="app:1",
        idempotency_key="welcome",
        settings=settings,
    )

    merged = ledger.merge_guest_accounts(7, "Bob@Example.com")
    merged_again = ledger.merge_guest_accounts(7, "bob@example.com")

    assert len(merged) == 1
    assert merged_again == []
    customer.refresh_from_db()
    assert (customer.balance, customer.lifetime_earned, customer.email) == (
        45,
        40,
        "bob@example.com",
    )
    guest = LoyaltyAccount.objects.get(pk=merged[0])
    assert (guest.balance, guest.merged_into_id) == (0, customer.pk)
    assert set(PointsEntry.objects.values_list("account_id", flat=True)) == {customer.pk}
    assert_ledger_consistent(customer)


def test_guest_points_merge_per_channel(make_order, make_settings):
    settings = make_settings()
    ledger.sync_order_points(guest_order(make_order, "bob@example.com", 10), settings)
    ledger.sync_order_points(
        guest_order(make_order, "bob@example.com", 20, channel_slug="channel-cn"), settings
    )

    merged = ledger.merge_guest_accounts(7, "bob@example.com")

    assert len(merged) == 2
    balances = dict(
        LoyaltyAccount.objects.filter(customer_id=7).values_list("channel_slug", "balance")
    )
    assert balances == {CHANNEL: 10, "channel-cn": 20}


def test_registering_without_guest_points_changes_nothing():
    assert ledger.merge_guest_accounts(7, "nobody@example.com") == []
    assert ledger.merge_guest_accounts(7, None) == []
    assert ledger.merge_guest_accounts(7, "") == []
    assert not LoyaltyAccount.objects.exists()


def test_a_confirmed_customers_first_order_brings_their_guest_points_along(
    make_order, make_settings
):
    settings = make_settings()
    ledger.sync_order_points(guest_order(make_order, "bob@example.com", 10), settings)

    ledger.sync_order_points(
        make_order(customer_id=7, email="BOB@example.com", email_verified=True), settings
    )

    customer = LoyaltyAccount.objects.get(customer_id=7)
    assert customer.balance == 110
    assert LoyaltyAccount.objects.live().count() == 1


def test_an_unconfirmed_email_cannot_claim_a_strangers_guest_points(make_order, make_settings):
    # Anyone can register (unconfirmed) or type any email into a checkout: without proof
    # the email is theirs, an order must not pull that email's guest points in.
    settings = make_settings()
    ledger.sync_order_points(guest_order(make_order, "victim@example.com", 10), settings)

    ledger.sync_order_points(
        make_order(customer_id=66, email="Victim@example.com", email_verified=False), settings
    )

    assert LoyaltyAccount.objects.get(customer_id=66).balance == 100
    guest = LoyaltyAccount.objects.get(customer_id__isnull=True)
    assert (guest.email, guest.balance, guest.merged_into_id) == ("victim@example.com", 10, None)


def test_merging_a_guest_debt_keeps_lots_consistent(make_order, make_settings):
    settings = make_settings()
    order = guest_order(make_order, "bob@example.com", 50)
    ledger.sync_order_points(order, settings)
    guest = LoyaltyAccount.objects.get()
    ledger.spend_points(guest.pk, 50, idempotency_key="guest-spent")
    ledger.sync_order_points(later(order, status="canceled"), settings)  # guest owes 50
    customer = ledger.account_for(CHANNEL, 7, None)
    ledger.adjust_points(
        customer.pk,
        80,
        reason="Welcome",
        actor="app:1",
        idempotency_key="welcome",
        settings=settings,
    )

    ledger.merge_guest_accounts(7, "bob@example.com")

    customer.refresh_from_db()
    assert customer.balance == 30
    assert ledger.summarise_account(customer).spendable == 30
    assert_ledger_consistent(customer)


def test_merge_runs_as_a_celery_task_with_json_arguments(make_order, make_settings):
    ledger.sync_order_points(guest_order(make_order, "bob@example.com", 10), make_settings())

    merged = merge_guest_accounts_task.delay(7, "bob@example.com").get()

    assert len(merged) == 1
    assert LoyaltyAccount.objects.get(customer_id=7).balance == 10


def test_guest_account_needs_an_email():
    with pytest.raises(LedgerError, match="needs an email"):
        ledger.account_for(CHANNEL, None, "  ")

    assert not LoyaltyAccount.objects.exists()


# --- anonymisation --------------------------------------------------------------------------


def test_anonymising_removes_email_and_customer_id_and_keeps_totals(make_order, make_settings):
    settings = make_settings()
    ledger.sync_order_points(guest_order(make_order, "ann@example.com", 30), settings)
    ledger.sync_order_points(make_order(customer_id=42, email="ann@example.com"), settings)
    ledger.sync_order_points(
        make_order(customer_id=42, email="ann@example.com", channel_slug="channel-cn"), settings
    )
    ledger.sync_order_points(guest_order(make_order, "someone@example.com", 5), settings)
    totals_before = sorted(LoyaltyAccount.objects.values_list("balance", "lifetime_earned"))

    count = anonymise_customer_everywhere(42, "Ann@Example.com")
    again = anonymise_customer_everywhere(42, "ann@example.com")

    assert count == 3  # both channels' accounts and the merged guest account
    assert again == 0
    assert not LoyaltyAccount.objects.filter(customer_id=42).exists()
    assert not LoyaltyAccount.objects.filter(email="ann@example.com").exists()
    assert LoyaltyAccount.objects.filter(anonymised_at__isnull=False).count() == 3
    assert sorted(LoyaltyAccount.objects.values_list("balance", "lifetime_earned")) == totals_before
    assert LoyaltyAccount.objects.get(email="someone@example.com").balance == 5
    assert PointsEntry.objects.total_points() == 235


def test_anonymising_an_open_guest_account_by_email(make_order, make_settings):
    ledger.sync_order_points(guest_order(make_order, "ann@example.com", 30), make_settings())

    assert anonymise_customer_task.delay(42, "ann@example.com").get() == 1

    account = LoyaltyAccount.objects.get()
    assert (account.email, account.customer_id, account.balance) == (None, None, 30)


def test_anonymising_an_unknown_customer_changes_nothing(funded_account):
    funded_account(10)

    assert anonymise_customer_everywhere(999, "stranger@example.com") == 0
    assert LoyaltyAccount.objects.get().email == "ann@example.com"


def test_a_new_account_after_anonymisation_starts_from_zero(
    funded_account, make_order, make_settings
):
    funded_account(10)
    anonymise_customer_everywhere(42, "ann@example.com")

    ledger.sync_order_points(make_order(points_base_amount=5), make_settings())

    assert LoyaltyAccount.objects.get(customer_id=42).balance == 5
