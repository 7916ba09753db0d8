"""1,000 reminders through a real Celery worker to a real SMTP server (aiosmtpd), and in
the middle of the batch: the worker killed with SIGKILL and restarted; the same with the
queued tasks lost; the broker restarted (without persistence); PostgreSQL restarted.

Counted at the SMTP server: no reminder is lost and none arrives twice. The only
exception allowed is a reminder whose send had started when the disruption hit ("in
doubt"): it may have arrived once, and it waits the 15-minute claim timeout instead of
being sent again at once. Claims whose send had not started are taken over once their
lease lapsed; the test measures how long they waited (they used to wait 15 minutes).

The broker and PostgreSQL restarted here are the test's own (``own_servers``), never the
machine's shared ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import kombu
import psycopg
import pytest
from django.db import connection
from packaging.version import Version

from tests.integration.carts.cart_shop import CONFIGURATION_ENV
from tests.integration.delivery_servers import RecordingSMTPHandler, start_smtp_server

from .own_servers import OwnPostgres, OwnRedis
from .workers import REPO_ROOT, Workers, smtp_configuration, wait_for, workers_on

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = [pytest.mark.heavy, pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

REMINDERS = int(os.environ.get("RETENTION_CRASH_REMINDERS", "1000"))
LEASE_SECONDS = 10
PATIENCE_SECONDS = 20
SWEEP_EVERY_SECONDS = 3  # beat's minute, shortened so the test measures the lease
TABLE = "saleor_retention_plugin_flowmessage"


@dataclass(frozen=True)
class Row:
    state: str
    send_started: bool
    claim_token: str | None
    sent_at: datetime | None
    # Set when a sweep took the claim over (or a send failed): the lease path was taken.
    taken_over: bool
    claimed_at: datetime | None  # the last claim: for a taken-over row, the takeover


def read_rows(database_url: str) -> dict[str, Row]:
    with psycopg.connect(database_url, connect_timeout=5) as db:
        rows = db.execute(
            f"SELECT idempotency_key, state, send_started_at IS NOT NULL, claim_token::text, "
            f"sent_at, first_failed_at IS NOT NULL, claimed_at FROM {TABLE}"
        ).fetchall()
    return {key: Row(*values) for key, *values in rows}


def read_rows_when_up(database_url: str) -> dict[str, Row] | None:
    try:
        return read_rows(database_url)
    except psycopg.OperationalError:
        return None  # our own PostgreSQL is restarting


def seed(database_url: str, configuration: dict[str, str], count: int) -> None:
    subprocess.run(
        [sys.executable, "-m", "tests.reliability.seed_reminders", str(count)],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.reliability.worker_settings",
            "DATABASE_URL": database_url,
            "RETENTION_WORKER_BROKER_URL": "memory://",
            "RETENTION_WORKER_QUEUE": "unused",
            "RETENTION_WORKER_MAIL_DIR": "/nonexistent",
            CONFIGURATION_ENV: json.dumps(configuration),
            "PYTHONPATH": str(REPO_ROOT),
        },
        check=True,
    )


def sweep_if_the_broker_answers(workers: Workers) -> None:
    # Our own broker may be restarting: beat's sweep would fail the same way.
    with contextlib.suppress(Exception):
        workers.sweep()


@dataclass
class Scenario:
    name: str
    own_broker: bool
    own_database: bool
    disrupt: Callable[[Workers, Any, OwnPostgres | None, OwnRedis | None], None]


def kill_and_restart(workers, process, postgres, redis):
    workers.kill(process)
    workers.start()


def kill_lose_queue_and_restart(workers, process, postgres, redis):
    workers.kill(process)
    redis.restart(down_seconds=1)  # the delivery tasks the sweep queued are gone
    workers.start()


def restart_broker(workers, process, postgres, redis):
    redis.restart(down_seconds=3)


def restart_database(workers, process, postgres, redis):
    postgres.restart(down_seconds=3)


# Saleor 3.20's lock pins kombu 5.3.7, whose Redis transport can stop consuming once the
# broker is back (celery/celery#9054, fixed in kombu 5.4.0 by celery/kombu#2007): the
# worker reconnects, takes a few tasks, then waits for ever beside a full queue (seen here
# on 30 November 2026: 492 tasks left queued for 15 minutes, the worker idle in epoll).
# Not the plugin's to fix, and not a loss (the claims wait for a worker that consumes); the
# scenario runs where kombu is 5.4 or newer: the standalone pins and Saleor 3.23's.
KOMBU_STOPS_AFTER_A_BROKER_RESTART = Version(kombu.__version__) < Version("5.4.0")

SCENARIOS = [
    Scenario("worker_killed", own_broker=False, own_database=False, disrupt=kill_and_restart),
    Scenario(
        "worker_killed_and_queue_lost",
        own_broker=True,
        own_database=False,
        disrupt=kill_lose_queue_and_restart,
    ),
    pytest.param(
        Scenario("broker_restarted", own_broker=True, own_database=False, disrupt=restart_broker),
        marks=pytest.mark.skipif(
            KOMBU_STOPS_AFTER_A_BROKER_RESTART,
            reason=f"kombu {kombu.__version__} can stop consuming after Redis comes back "
            "(celery/celery#9054, fixed in kombu 5.4.0); runs with kombu 5.4 or newer",
        ),
    ),
    Scenario("database_restarted", own_broker=False, own_database=True, disrupt=restart_database),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.name)
def test_a_disruption_mid_batch_loses_and_repeats_nothing(
    scenario: Scenario, tmp_path: Path, record_property
):
    handler = RecordingSMTPHandler()
    smtp = start_smtp_server(handler)
    configuration = smtp_configuration(smtp.port)
    postgres = redis = None
    options: dict[str, Any] = {
        "extra_env": {
            "RETENTION_CLAIM_LEASE_SECONDS": str(LEASE_SECONDS),
            "RETENTION_CLAIM_PATIENCE_SECONDS": str(PATIENCE_SECONDS),
        }
    }
    database = connection.settings_dict
    database_url = (
        f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    )
    try:
        if scenario.own_database:
            postgres = OwnPostgres()
            postgres.start()
            database_url = postgres.create_database("retention_crash")
        if scenario.own_broker:
            (tmp_path / "redis").mkdir()
            redis = OwnRedis(tmp_path / "redis")
            redis.start()
            options["broker_url"] = redis.url()
        options["database_url"] = database_url
        seed(database_url, configuration, REMINDERS)

        with workers_on(tmp_path, configuration, **options) as workers:
            first = workers.start()
            workers.sweep()
            assert wait_for(lambda: len(handler.messages) >= REMINDERS // 5, timeout=900), (
                workers.logs()[-5000:]
            )
            before = read_rows(database_url)
            disrupted_at = datetime.now(UTC)
            scenario.disrupt(workers, first, postgres, redis)

            def everything_but_the_doubtful_is_sent() -> bool:
                sweep_if_the_broker_answers(workers)
                time.sleep(SWEEP_EVERY_SECONDS)
                rows = read_rows_when_up(database_url)
                return rows is not None and all(
                    row.state == "sent" or (row.state == "claimed" and row.send_started)
                    for row in rows.values()
                )

            assert wait_for(everything_but_the_doubtful_is_sent, timeout=1200, every=0), (
                workers.logs()[-5000:]
            )
            # Let stragglers (a dead claim's late task, a duplicate) arrive if they would.
            sweep_if_the_broker_answers(workers)
            time.sleep(2 * SWEEP_EVERY_SECONDS)
            after = read_rows(database_url)
    finally:
        smtp.stop()
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.remove()

    received = Counter(
        # A long key is folded onto its own line: the value comes back with a leading space.
        str(message["X-Retention-Idempotency-Key"]).strip()
        for message in handler.messages
    )
    in_doubt = {key for key, row in after.items() if row.state == "claimed" and row.send_started}
    assert len(after) == REMINDERS
    assert [key for key, count in received.items() if count > 1] == []  # none twice
    assert [key for key in after if key not in in_doubt and received[key] != 1] == []  # none lost
    assert all(received[key] <= 1 for key in in_doubt)
    # One solo worker sends one message at a time; a database restart may also cut the
    # write that records a finished send (then the message did arrive, once).
    assert len(in_doubt) <= (3 if scenario.own_database else 1)

    claimed_unsent = [
        key for key, row in before.items() if row.state == "claimed" and not row.send_started
    ]
    taken_over = [key for key in claimed_unsent if after[key].taken_over]

    def waited(keys: list[str]) -> float:
        moments = [after[key].sent_at for key in keys]
        return max(((m - disrupted_at).total_seconds() for m in moments if m), default=0.0)

    longest = waited(taken_over)
    takeovers = [after[key].claimed_at for key in taken_over]
    slowest_takeover = max(
        ((moment - disrupted_at).total_seconds() for moment in takeovers if moment), default=0.0
    )
    figures = {
        "scenario": scenario.name,
        "reminders": REMINDERS,
        "received": sum(received.values()),
        "claimed_unsent_at_disruption": len(claimed_unsent),
        "in_doubt": len(in_doubt),
        "in_doubt_received": sum(received[key] for key in in_doubt),
        "taken_over": len(taken_over),
        "slowest_takeover_after_disruption_s": round(slowest_takeover, 1),
        "longest_wait_of_a_taken_over_claim_s": round(longest, 1),
        "all_claimed_unsent_sent_after_s": round(waited(claimed_unsent), 1),
        "lease_s": LEASE_SECONDS,
        "patience_s": PATIENCE_SECONDS,
    }
    for name, value in figures.items():
        record_property(name, value)
    results = os.environ.get("RETENTION_RELIABILITY_RESULTS")
    if results:
        with open(results, "a") as out:
            out.write(json.dumps(figures) + "\n")
    # They used to wait the 15-minute claim timeout; now the lease (or the patience, when
    # the worker lives) plus a sweep, plus restarting a worker on this busy machine.
    assert slowest_takeover < PATIENCE_SECONDS + LEASE_SECONDS + 90
