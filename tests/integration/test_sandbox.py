"""The README's main job: the sandbox runs end to end on its embedded SQLite database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_sandbox(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "-m", "saleor_retention_plugin.sandbox", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_sandbox_simulates_a_store_and_its_ledger_stays_consistent():
    result = run_sandbox("--weeks", "3", "--customers", "4", "--seed", "11")

    assert result.returncode == 0, result.stderr
    report = result.stdout
    assert "Database: embedded SQLite" in report
    for section in (
        "== default-channel (USD)",
        "== channel-cn (CNY)",
        "== Membership tiers and the points mall",
        "== Abandoned carts and reminders",
    ):
        assert section in report
    assert "Ledger audit: every cached balance matches its entries." in report
    assert "Prize draws re-derived from their published seeds" in report


def test_the_same_seed_tells_the_same_story():
    first = run_sandbox("--weeks", "2", "--customers", "3", "--seed", "5")
    second = run_sandbox("--weeks", "2", "--customers", "3", "--seed", "5")

    assert first.returncode == second.returncode == 0
    assert without_signed_links(first.stdout) == without_signed_links(second.stdout)


def without_signed_links(report: str) -> list[str]:
    # Unsubscribe links are signed with the moment of signing; everything else must match.
    return [line for line in report.splitlines() if "Unsubscribe" not in line]


def test_bad_arguments_get_a_clear_error():
    result = run_sandbox("--weeks", "0")

    assert result.returncode == 2
    assert "--weeks and --customers must be at least 1" in result.stderr
