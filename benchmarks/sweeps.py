"""The periodic sweeps next to a small and a huge table (issue 12, benchmark 4).

* Cart sweep (``cart_reminders.advance_due_carts``: the engine's scheduler over the cart
  flow's enrolments): 50 due carts among ``small`` (10 thousand) and ``big`` (1 million)
  idle tracked carts with their series.
* Enrolment sweep (``enrolments.advance_due_enrolments``, every lifecycle flow's
  scheduler): 50 due enrolments among ``small`` and ``big`` waiting ones.
* Points expiry (``ledger.expire_due_points``): 200 due lots among 10 thousand and
  1 million live lots.
* Reward-code expiry (``mall.expire_unused_codes``): 200 expired codes among 10 thousand
  and 1 million issued ones.

Goal: each sweep's time beside the big table within 2 times its time beside the small
one (the same due count: the cost follows what is due). Each figure is the median of
``REPEAT`` sweeps, the due rows put back between them: single sweeps on a shared
machine vary by a factor of 2 or more. The small table is seeded in a second database
(``<RETENTION_BENCH_DB>_sweep_small``, a second connection) and the big one in the
benchmark's own, and the two sizes' sweeps take turns (every other round the big one
first), so the ratio compares sweeps made under the same load (measured minutes apart,
a rising load put 2.16 times on the points expiry in one run and 1.7 in the next).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from benchmarks import support
from benchmarks.ledger_path import CHANNEL, TABLE

if TYPE_CHECKING:
    from collections.abc import Callable

CART_DUE = 50
ENROLMENTS_DUE = 50
BENCH_FLOW = "bench_waiting"
LOTS_DUE = 200
CODES_DUE = 200
REPEAT = 5


@dataclass(frozen=True)
class Sweep:
    """A seeded database's sweep: ``run`` it, ``put_back`` its due rows, ``check`` the runs."""

    run: Callable[[], object]
    put_back: Callable[[], None]
    check: Callable[[], None]


def compare(
    prepare: Callable[[int], Sweep], small_rows: int, big_rows: int, small_database: Any
) -> tuple[float, float]:
    """Median seconds of ``prepare``'s sweep beside ``small_rows`` and ``big_rows`` rows.

    ``small_database`` (a second connection) holds the small table, the default one the
    big; the sweeps take turns, every other round the big one first.
    """
    from django.db import connections

    sides = [(small_database, small_rows), (connections["default"], big_rows)]
    sweeps = []
    for connection, rows in sides:
        with support.on_connection(connection):
            sweeps.append(prepare(rows))
    samples: list[list[float]] = [[], []]
    for round_number in range(REPEAT):
        for side in (0, 1) if round_number % 2 == 0 else (1, 0):
            with support.on_connection(sides[side][0]):
                samples[side].append(support.timed(sweeps[side].run))
                sweeps[side].put_back()
    for (connection, _), sweep in zip(sides, sweeps, strict=True):
        with support.on_connection(connection):
            sweep.check()
    return statistics.median(samples[0]), statistics.median(samples[1])


def seed_carts(rows: int, now: datetime) -> None:
    """``rows`` tracked carts with their series (flow ``cart`` enrolments).

    As the checkout upsert writes them; the first ``CART_DUE`` are due an hour ago, the
    rest later.
    """
    cart, enrolment = TABLE.format("trackedcart"), TABLE.format("flowenrolment")
    support.execute(
        f"""INSERT INTO {cart} (checkout_token, channel_slug, customer_id, email, language_code,
               currency, timezone, last_activity_at, lines, state, created_at, updated_at)
            SELECT gen_random_uuid(), %s, NULL, 'x' || g || '@example.com', 'en', 'USD', '',
                   %s, '[]', 'open', %s, %s
            FROM generate_series(1, %s) g""",
        [CHANNEL, now - timedelta(minutes=5), now, now, rows],
    )
    support.execute(
        f"""INSERT INTO {enrolment} (flow, channel_slug, subject_kind, subject_key, cycle,
               customer_id, email, language_code, anchor_at, data, cart_id, state, next_step,
               next_check_at, is_holdout, variant, failures, leased_by, stop_reason,
               created_at, updated_at)
            SELECT 'cart', channel_slug, 'cart', 'cart:' || checkout_token::text, 1,
                   customer_id, email, 'en', last_activity_at, '{{}}', id, 'active', 1,
                   CASE WHEN id <= (SELECT MIN(id) FROM {cart}) + %s - 1 THEN %s ELSE %s END,
                   false, '', 0, '', '', %s, %s
            FROM {cart}""",
        [CART_DUE, now - timedelta(hours=1), now + timedelta(minutes=55), now, now],
    )


def cart_sweep(rows: int) -> Sweep:
    from saleor_retention_plugin.services.cart_reminders import advance_due_carts

    now = datetime.now(UTC)
    support.empty_tables()
    seed_carts(rows, now)
    support.analyze()
    reports: list[Any] = []
    cart, enrolment = TABLE.format("trackedcart"), TABLE.format("flowenrolment")

    def put_back() -> None:
        support.execute(
            f"""UPDATE {enrolment} SET state = 'active', stop_reason = '', next_check_at = %s,
                   next_step = 1, stopped_at = NULL, failures = 0, leased_by = ''
                WHERE flow = 'cart' AND cart_id <= (SELECT MIN(id) FROM {cart}) + %s - 1""",
            [now - timedelta(hours=1), CART_DUE],
        )

    def check() -> None:
        assert len(reports) == REPEAT, reports
        assert all(report.looked_at == CART_DUE for report in reports), reports

    return Sweep(
        lambda: reports.append(advance_due_carts(now=now, load_settings=lambda slug: None)),
        put_back,
        check,
    )


def seed_enrolments(rows: int, now: datetime) -> None:
    enrolment = TABLE.format("flowenrolment")
    support.execute(
        f"""INSERT INTO {enrolment} (flow, channel_slug, subject_kind, subject_key, cycle,
               customer_id, email, language_code, anchor_at, data, state, next_step,
               next_check_at, is_holdout, variant, failures, leased_by, stop_reason,
               created_at, updated_at)
            SELECT %s, %s, 'customer', 'customer:' || g, 1, g, NULL, 'en', %s, '{{}}',
                   'active', 1, CASE WHEN g <= %s THEN %s ELSE %s END, false, '', 0, '', '',
                   %s, %s
            FROM generate_series(1, %s) g""",
        [
            BENCH_FLOW,
            CHANNEL,
            now - timedelta(days=1),
            ENROLMENTS_DUE,
            now - timedelta(hours=1),
            now + timedelta(days=30),
            now,
            now,
            rows,
        ],
    )


def enrolment_sweep(rows: int) -> Sweep:
    from saleor_retention_plugin.conf import ChannelSettings
    from saleor_retention_plugin.services.enrolments import (
        EnrolmentFlow,
        WaitUntil,
        advance_due_enrolments,
    )

    class WaitingFlow(EnrolmentFlow):
        """Looks at each due enrolment and waits a day: the scheduler's own cost."""

        name = BENCH_FLOW

        def is_enabled(self, settings: ChannelSettings) -> bool:
            return True

        def advance(self, enrolment: Any, settings: Any, now: datetime) -> WaitUntil:
            return WaitUntil(now + timedelta(days=1))

    now = datetime.now(UTC)
    support.empty_tables()
    seed_enrolments(rows, now)
    support.analyze()
    reports: list[Any] = []
    enrolment = TABLE.format("flowenrolment")
    flow = WaitingFlow()

    def put_back() -> None:
        support.execute(
            f"UPDATE {enrolment} SET next_check_at = %s WHERE customer_id <= %s",
            [now - timedelta(hours=1), ENROLMENTS_DUE],
        )

    def check() -> None:
        assert len(reports) == REPEAT, reports
        assert all(report["looked_at"] == ENROLMENTS_DUE for report in reports), reports

    return Sweep(
        lambda: reports.append(
            advance_due_enrolments(flow, now=now, load_settings=lambda slug: ChannelSettings())
        ),
        put_back,
        check,
    )


def seed_lots(rows: int, due: int, now: datetime) -> None:
    """``rows`` lots of ``rows`` accounts; the first ``due`` expired an hour ago."""
    account, entry, lot = (TABLE.format(n) for n in ("loyaltyaccount", "pointsentry", "pointslot"))
    support.execute(
        f"""INSERT INTO {account} (channel_slug, customer_id, email, balance, lifetime_earned,
               created_at, updated_at)
            SELECT %s, g, NULL, 1000, 1000, %s, %s FROM generate_series(1, %s) g""",
        [CHANNEL, now, now, rows],
    )
    support.execute(
        f"""INSERT INTO {entry} (kind, points, written_off, idempotency_key, order_id,
               order_number, reason, actor, details, created_at, account_id)
            SELECT 'earn', 1000, 0, 'earn:' || id, 'o-' || id, id::text, '', '', '{{}}', %s, id
            FROM {account}""",
        [now - timedelta(days=400)],
    )
    support.execute(
        f"""INSERT INTO {lot} (order_id, points, remaining, available_at, expires_at,
               account_id, entry_id)
            SELECT order_id, 1000, 1000, created_at,
                   CASE WHEN account_id <= %s THEN %s ELSE %s END, account_id, id
            FROM {entry}""",
        [due, now - timedelta(hours=1), now + timedelta(days=365)],
    )


def points_expiry(rows: int) -> Sweep:
    from saleor_retention_plugin.models import PointsLot
    from saleor_retention_plugin.services.ledger import expire_due_points

    now = datetime.now(UTC)
    support.empty_tables()
    seed_lots(rows, LOTS_DUE, now)
    support.analyze()
    account, entry, lot = (TABLE.format(n) for n in ("loyaltyaccount", "pointsentry", "pointslot"))

    def put_back() -> None:
        assert not PointsLot.objects.expired_by(now).exists()
        support.execute(f"DELETE FROM {entry} WHERE kind = 'expire'")
        support.execute(f"UPDATE {lot} SET remaining = points WHERE account_id <= %s", [LOTS_DUE])
        support.execute(f"UPDATE {account} SET balance = 1000 WHERE id <= %s", [LOTS_DUE])

    expired: list[int] = []

    def check() -> None:
        assert expired == [LOTS_DUE * 1000] * REPEAT, expired

    return Sweep(lambda: expired.append(expire_due_points(now)), put_back, check)


def seed_codes(rows: int, now: datetime) -> None:
    """``rows`` issued codes (each with its redeem entry); the first 200 expired."""
    from saleor_retention_plugin.services import mall

    reward = mall.create_reward(
        CHANNEL,
        kind="fixed_discount",
        name={"en": "10 off"},
        points_cost=1000,
        discount_value="10",
    )
    seed_lots(rows, 0, now)
    account, entry, redemption = (
        TABLE.format(n) for n in ("loyaltyaccount", "pointsentry", "redemption")
    )
    support.execute(
        f"""INSERT INTO {entry} (kind, points, written_off, idempotency_key, order_id,
               order_number, reason, actor, details, created_at, account_id)
            SELECT 'redeem', -1000, 0, 'redeem:' || id, NULL, '', '', '', '{{}}', %s, id
            FROM {account}""",
        [now - timedelta(days=40)],
    )
    support.execute(
        f"""INSERT INTO {redemption} (channel_slug, points_spent, idempotency_key, status, code,
               issuer, issuer_reference, issued_kind, issued_value, expires_at,
               refund_on_expiry, draw_audit, created_at, updated_at, account_id,
               points_entry_id, refund_entry_id, reward_id)
            SELECT %s, 1000, 'r' || e.id, 'issued', 'BENCH-' || e.id, 'plain', '',
                   'fixed_discount', 10, CASE WHEN e.account_id <= %s THEN %s ELSE %s END,
                   false, '{{}}', %s, %s, e.account_id, e.id, NULL, %s
            FROM {entry} e WHERE e.kind = 'redeem'""",
        [
            CHANNEL,
            CODES_DUE,
            now - timedelta(hours=1),
            now + timedelta(days=20),
            now,
            now,
            reward.pk,
        ],
    )
    support.execute(f"UPDATE {account} SET balance = 0")


def code_expiry(rows: int) -> Sweep:
    from saleor_retention_plugin.conf import ChannelSettings
    from saleor_retention_plugin.services import mall
    from saleor_retention_plugin.services.codes import PlainCodeIssuer

    now = datetime.now(UTC)
    support.empty_tables()
    seed_codes(rows, now)
    support.analyze()
    reports: list[Any] = []
    redemption = TABLE.format("redemption")

    def run() -> None:
        reports.append(
            mall.expire_unused_codes(
                settings_for_channel=lambda slug: ChannelSettings(),
                issuer=PlainCodeIssuer(),
                now=now,
            )
        )

    def put_back() -> None:
        support.execute(
            f"UPDATE {redemption} SET status = 'issued' WHERE account_id <= %s", [CODES_DUE]
        )

    def check() -> None:
        assert len(reports) == REPEAT, reports
        for report in reports:
            closed = sum(value for value in vars(report).values() if isinstance(value, int))
            assert closed >= CODES_DUE, report

    return Sweep(run, put_back, check)


def main() -> dict[str, Any]:
    support.setup_django()
    size = support.scale()
    figures: dict[str, Any] = {}
    with support.second_database("sweep_small") as small_database:
        for name, prepare in (
            ("cart_sweep", cart_sweep),
            ("enrolment_sweep", enrolment_sweep),
            ("points_expiry", points_expiry),
            ("code_expiry", code_expiry),
        ):
            small, big = compare(prepare, size.small, size.big, small_database)
            figures[name] = {
                "small_rows": size.small,
                "big_rows": size.big,
                "small_ms": round(small * 1000, 1),
                "big_ms": round(big * 1000, 1),
                "ratio": support.ratio(big, small),
            }
    support.empty_tables()
    goals = {f"{name}_within_2x": figure["ratio"] <= 2 for name, figure in figures.items()}
    return {
        **figures,
        "goals": goals,
        "summary": ", ".join(
            f"{name} {figure['small_ms']} vs {figure['big_ms']} ms ({figure['ratio']}x)"
            for name, figure in figures.items()
        )
        + f" at {size.small:,} vs {size.big:,} rows; {support.verdict(all(goals.values()))}",
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
