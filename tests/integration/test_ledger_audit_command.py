"""``manage.py retention_ledger``: cached totals that drift are found and repaired; lots are not."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from saleor_retention_plugin.models import LoyaltyAccount, PointsLot
from saleor_retention_plugin.services import ledger
from tests.integration.conftest import assert_ledger_consistent

pytestmark = pytest.mark.django_db


def retention_ledger(*args: str) -> str:
    out = StringIO()
    call_command("retention_ledger", *args, stdout=out)
    return out.getvalue()


def run_failing(*args: str) -> tuple[str, str]:
    """The command's output and the error it exits non-zero with."""
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("retention_ledger", *args, stdout=out)
    return out.getvalue(), str(failure.value)


@pytest.fixture
def spent_account(funded_account) -> LoyaltyAccount:
    """A real ledger: 300 points earned on an order, 100 of them spent (one lot, 200 left)."""
    account = funded_account(300)
    ledger.spend_points(account.pk, 100, idempotency_key="audit-test-spend")
    account.refresh_from_db()
    assert_ledger_consistent(account)
    return account


def corrupt_cached_totals(account: LoyaltyAccount, *, balance: int, lifetime_earned: int) -> None:
    # A raw UPDATE, as a bad manual fix or a buggy migration would leave it.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {LoyaltyAccount._meta.db_table} SET balance = %s, lifetime_earned = %s "
            "WHERE id = %s",
            [balance, lifetime_earned, account.pk],
        )


def corrupt_open_lot(account: LoyaltyAccount, *, remaining: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {PointsLot._meta.db_table} SET remaining = %s WHERE account_id = %s",
            [remaining, account.pk],
        )


@pytest.mark.parametrize("mode", [(), ("--verify",)])
def test_a_clean_ledger_verifies(spent_account, funded_account, mode):
    funded_account(50, customer_id=7, email="bo@example.com")

    output = retention_ledger(*mode)

    assert "Every cached balance matches its entries." in output


@pytest.mark.parametrize("mode", [(), ("--verify",)])
def test_verify_fails_on_a_drifted_cached_balance_and_names_the_account(spent_account, mode):
    corrupt_cached_totals(spent_account, balance=999, lifetime_earned=1234)

    output, error = run_failing(*mode)

    assert f"account {spent_account.pk}: cached balance 999, entries say 200" in output
    assert "cached lifetime 1234, entries say 300" in output
    assert f"[{spent_account.pk}]" in error
    assert "run with --rebuild to repair them" in error
    spent_account.refresh_from_db()
    assert (spent_account.balance, spent_account.lifetime_earned) == (999, 1234)


def test_verify_names_only_the_drifted_accounts(spent_account, funded_account):
    untouched = funded_account(50, customer_id=7, email="bo@example.com")
    corrupt_cached_totals(spent_account, balance=0, lifetime_earned=300)

    output, _ = run_failing("--verify")

    assert f"account {spent_account.pk}:" in output
    assert f"account {untouched.pk}:" not in output


def test_rebuild_repairs_the_cached_totals_and_verify_then_passes(spent_account):
    corrupt_cached_totals(spent_account, balance=999, lifetime_earned=1234)

    output = retention_ledger("--rebuild")

    assert "Rebuilt the cached totals of 1 accounts." in output
    spent_account.refresh_from_db()
    assert (spent_account.balance, spent_account.lifetime_earned) == (200, 300)
    assert_ledger_consistent(spent_account)
    assert "Every cached balance matches its entries." in retention_ledger("--verify")


def test_verify_reports_an_open_lot_that_disagrees_and_says_a_person_must_look(spent_account):
    corrupt_open_lot(spent_account, remaining=250)

    output, error = run_failing("--verify")

    assert f"account {spent_account.pk}: cached balance 200, entries say 200" in output
    assert "open lots hold 250" in output
    assert f"Open lots disagree with the balance of accounts [{spent_account.pk}]" in error
    assert "--rebuild cannot repair lots" in error
    # Only the lots are off, so --rebuild is not offered as the cure.
    assert "run with --rebuild to repair" not in error


def test_rebuild_cannot_repair_lots_and_fails_naming_their_accounts(spent_account):
    corrupt_open_lot(spent_account, remaining=250)

    output, error = run_failing("--rebuild")

    assert f"Open lots disagree with the balance of accounts [{spent_account.pk}]" in error
    assert "a person" in error
    assert "Rebuilt the cached totals" not in output
    assert PointsLot.objects.get(account=spent_account).remaining == 250
    # Nothing was repaired, so verify still fails.
    run_failing("--verify")


def test_with_both_kinds_of_drift_rebuild_repairs_the_totals_and_still_fails_on_the_lots(
    spent_account, funded_account
):
    lots_off = funded_account(80, customer_id=7, email="bo@example.com")
    corrupt_cached_totals(spent_account, balance=5, lifetime_earned=300)
    corrupt_open_lot(lots_off, remaining=10)

    _, verify_error = run_failing("--verify")
    assert f"[{spent_account.pk}] drifted from their entries; run with --rebuild" in verify_error
    assert f"accounts [{lots_off.pk}]; --rebuild cannot repair lots" in verify_error

    output, rebuild_error = run_failing("--rebuild")

    assert "Rebuilt the cached totals of 1 accounts." in output
    assert f"Open lots disagree with the balance of accounts [{lots_off.pk}]" in rebuild_error
    spent_account.refresh_from_db()
    assert spent_account.balance == 200
