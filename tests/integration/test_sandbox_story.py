"""The sandbox's story adds up: every account row against the ledger, customers counted
once, every simulated customer distinct, recoveries split the way they happened; and an
interrupted run leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from .test_sandbox import POSTGRES_SERVER, REPO_ROOT, run_sandbox

CUSTOMERS_PER_CHANNEL = 14  # more than the twelve first names: the second round is "Ann 2"


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    """One run on PostgreSQL, kept for reading: its JSON and the database it left."""
    name = f"retention_sandbox_story_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_SERVER + "/postgres", autocommit=True) as server:
        server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"{POSTGRES_SERVER}/{name}"
    json_file = tmp_path_factory.mktemp("story") / "story.json"
    try:
        result = run_sandbox(
            "--weeks",
            "6",
            "--customers",
            str(CUSTOMERS_PER_CHANNEL),
            "--seed",
            "3",
            "--json",
            str(json_file),
            extra_env={"DATABASE_URL": url},
            timeout=1200,  # every flow runs too: minutes on a loaded machine
        )
        assert result.returncode == 0, result.stderr
        yield json.loads(json_file.read_text()), url, result.stdout
    finally:
        with psycopg.connect(POSTGRES_SERVER + "/postgres", autocommit=True) as server:
            server.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def ledger_of(url: str) -> dict[str, dict[str, int]]:
    """Per account email: its cached balance and the points of each kind of entry."""
    rows: dict[str, dict[str, int]] = defaultdict(dict)
    with psycopg.connect(url) as connection:
        for email, channel, balance in connection.execute(
            "SELECT email, channel_slug, balance FROM saleor_retention_plugin_loyaltyaccount "
            "WHERE merged_into_id IS NULL"
        ):
            rows[f"{channel}/{email}"]["balance"] = balance
        for email, channel, kind, points in connection.execute(
            "SELECT a.email, a.channel_slug, e.kind, SUM(e.points) "
            "FROM saleor_retention_plugin_pointsentry e "
            "JOIN saleor_retention_plugin_loyaltyaccount a ON a.id = e.account_id "
            "GROUP BY a.email, a.channel_slug, e.kind"
        ):
            rows[f"{channel}/{email}"][kind] = int(points)
    return rows


def test_every_account_row_adds_up_against_the_ledger(story):
    data, url, report = story
    ledger = ledger_of(url)
    rows = [(channel["slug"], row) for channel in data["channels"] for row in channel["accounts"]]

    assert len(rows) == len(ledger)
    for slug, row in rows:
        entries = ledger[f"{slug}/{row['email']}"]
        assert (
            row["balance"]
            == entries["balance"]
            == sum(points for kind, points in entries.items() if kind != "balance")
        )
        assert (row["earned"], row["spent"], row["expired"]) == (
            entries.get("earn", 0),
            -entries.get("redeem", 0),
            -entries.get("expire", 0),
        )
        assert (row["taken_back"], row["adjusted"]) == (
            -entries.get("reverse", 0),
            entries.get("adjust", 0),
        )
        assert row["balance"] == (
            row["earned"] - row["spent"] - row["expired"] - row["taken_back"] + row["adjusted"]
        )
        # The due expiry ran before the report: no points are in no column.
        assert row["spendable"] + row["pending"] == row["balance"], row
    assert f"{len(data['channels'][0]['accounts'])} of " in report


def test_the_tier_table_counts_customers_not_merged_guest_accounts(story):
    data, _, _ = story

    assert data["merged_guest_accounts"] > 0
    for channel, tiers in zip(data["channels"], data["tiers"], strict=True):
        members = tiers["member"] + tiers["silver"] + tiers["gold"]
        assert tiers["customers"] == len(channel["accounts"]) <= CUSTOMERS_PER_CHANNEL
        assert members <= tiers["customers"]


def test_every_simulated_customer_is_someone_else_and_the_second_round_redeems_too(story):
    data, _, _ = story
    accounts = [row for channel in data["channels"] for row in channel["accounts"]]

    assert len({row["customer"] for row in accounts}) == len(accounts)
    assert len({row["email"] for row in accounts}) == len(accounts)
    second_round = [row for row in accounts if " 2 (" in row["customer"]]
    assert second_round, "no customer of the second round of names has an account"
    assert any(row["spent"] > 0 for row in second_round)


def test_the_recovery_figures_split_completed_carts_from_other_orders(story):
    data, _, report = story

    for summary in data["carts"].values():
        for group in summary["groups"].values():
            assert group["recovered_carts"] == group["completed_carts"] + group["other_orders"]
            assert group["recovered_carts"] <= group["abandoned_carts"]
    # The simulation's own assumptions sit beside what the plugin measured.
    assert "comes back by itself 8%" in report
    assert "18% (step 1), 12% (step 2), 6% (step 3)" in report


def test_an_interrupted_run_leaves_no_temporary_files(tmp_path):
    scratch, json_file = tmp_path / "tmp", tmp_path / "story.json"
    scratch.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["TMPDIR"] = str(scratch)
    command = [sys.executable, "-m", "saleor_retention_plugin.sandbox", "--weeks", "52"]
    child = subprocess.Popen(
        [*command, "--json", str(json_file)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a terminal delivers it: a test run started in the background (``&`` in
        # a script) ignores SIGINT, and its children would inherit that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not any(Path(scratch).glob("retention-sandbox-*/sandbox.sqlite3")):
        assert time.monotonic() < deadline, "the sandbox never started"
        time.sleep(0.2)
    time.sleep(2)  # well into the simulation

    child.send_signal(signal.SIGINT)
    try:
        _, stderr = child.communicate(timeout=120)
    finally:
        child.kill()  # a run that ignored the interrupt must not outlive the test

    assert child.returncode == 130
    assert "interrupted; nothing was left behind" in stderr
    assert "Traceback" not in stderr
    assert list(scratch.iterdir()) == []
    assert not json_file.exists()
