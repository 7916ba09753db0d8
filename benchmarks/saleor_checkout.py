"""What the plugin adds to a paid checkoutComplete in a real Saleor (issue 11).

``python -m benchmarks.saleor_checkout`` (or ``make bench``, as ``saleor_checkout``) measures
on every Saleor line installed by hand (README, "Testing against Saleor"): the virtualenvs of
``SALEOR_VENVS``, by default ``$VENV`` (Saleor 3.20) and ``$VENV-py312`` (Saleor 3.23). For
each line and each mode it reports the SQL queries of one completion with and without the
plugin (median), the extra queries, the median times and their ratio, over 30 completions of
each kind (5 with ``RETENTION_BENCH_SCALE=small``), plugin on and off interleaved in one
run. Modes: ``inline`` (no broker: the plugin's tasks run in the request, as in small
installs) and ``queued`` (a real Redis broker, ``RETENTION_BROKER_URL``, takes the tasks;
the request only hands them over).

Goals (issue 11): at most 15 extra queries and a time ratio of at most 1.05 inline; at most
2 extra queries and 1.02 queued. ``tests/saleor/test_checkout_cost.py`` asserts the query
counts. Saleor's fixtures build the shop, so each line runs one pytest item
(``tests/saleor/bench_checkout_cost.py``) in that line's Python, in a database
``bench_rsal_<version>_<migrations digest>`` cloned from the Saleor tier's template
(``scripts/test``) when there is one, else migrated on first use (minutes).
``main()`` prints one JSON object and returns it; without any Saleor line it is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOALS = {
    "inline": {"max_extra_queries": 15, "max_median_time_ratio": 1.05},
    "queued": {"max_extra_queries": 2, "max_median_time_ratio": 1.02},
}
VERSION_OF = "import importlib.metadata as m, saleor; print(m.version('saleor'))"


def saleor_venvs() -> list[str]:
    """The virtualenvs to look in: ``SALEOR_VENVS``, by default ``$VENV`` and ``$VENV-py312``."""
    venv = os.environ.get("VENV", str(Path.home() / ".venvs" / "saleor-retention-plugin"))
    return os.environ.get("SALEOR_VENVS", f"{venv} {venv}-py312").split()


def saleor_lines() -> list[tuple[Path, str]]:
    """``(python, Saleor version)`` of every virtualenv where Saleor is importable."""
    lines = []
    for path in saleor_venvs():
        python = Path(path) / "bin" / "python"
        if not python.exists():
            continue
        found = subprocess.run([python, "-c", VERSION_OF], capture_output=True, text=True)
        if found.returncode == 0:
            lines.append((python, found.stdout.strip()))
    return lines


def bench_database(version: str) -> str:
    """A migrated database for this Saleor version and our migrations, cloned from the
    Saleor tier's template when it exists.
    """
    migrations = sorted((ROOT / "saleor_retention_plugin" / "migrations").glob("*.py"))
    digest = hashlib.sha1(b"".join(path.read_bytes() for path in migrations)).hexdigest()[:10]
    tag = version.replace(".", "_")
    name, template = f"bench_rsal_{tag}_{digest}", f"tmpl_rsal_{tag}_{digest}"
    import psycopg

    dsn = os.environ.get(
        "RETENTION_SALEOR_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    )
    with psycopg.connect(dsn, autocommit=True) as connection:
        have = {
            row[0]
            for row in connection.execute(
                "SELECT datname FROM pg_database WHERE datname IN (%s, %s)", (name, template)
            )
        }
        if name not in have and template in have:
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def measure(python: Path, version: str, pairs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "result.json"
        env = {
            **os.environ,
            "RETENTION_SALEOR_TEST_DB": bench_database(version),
            "RETENTION_CHECKOUT_BENCH_OUT": str(out),
            "RETENTION_CHECKOUT_BENCH_PAIRS": str(pairs),
            "RETENTION_CHECKOUT_BENCH_MODES": "inline,queued",
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)
        run = subprocess.run(
            [
                python,
                "-m",
                "pytest",
                "tests/saleor/bench_checkout_cost.py",
                "--ds=tests.saleor.settings",
                "--reuse-db",
                "-q",
                "-p",
                "no:cacheprovider",
                "-W",
                "ignore::DeprecationWarning",
                "-W",
                "ignore::PendingDeprecationWarning",
            ],
            cwd=ROOT,
            env=env,
            stdout=sys.stderr,  # stdout carries the one JSON object
        )
        if run.returncode != 0 or not out.exists():
            return {"error": f"pytest exit {run.returncode} (its report is on stderr)"}
        modes: dict[str, Any] = json.loads(out.read_text())
    for mode, result in modes.items():
        goal = GOALS[mode]
        result["goal"] = goal
        result["meets_goal"] = (
            result["extra_queries"] <= goal["max_extra_queries"]
            and result["median_time_ratio"] <= goal["max_median_time_ratio"]
        )
    return modes


def main() -> dict[str, Any]:
    pairs = 5 if os.environ.get("RETENTION_BENCH_SCALE") == "small" else 30
    lines = saleor_lines()
    if not lines:
        result: dict[str, Any] = {
            "skipped": "Saleor is not importable in any of the virtualenvs "
            + ", ".join(saleor_venvs())
            + " (SALEOR_VENVS, by default $VENV and $VENV-py312)",
            "summary": "skipped: no Saleor line installed",
            "goals": {},
        }
        print(json.dumps(result))
        return result
    measured = {version: measure(python, version, pairs) for python, version in lines}
    goals: dict[str, bool] = {}
    summary = []
    for version, modes in measured.items():
        if "error" in modes:
            goals[f"{version} measured"] = False
            summary.append(f"{version}: {modes['error']}")
            continue
        for mode, figures in modes.items():
            goals[f"{version} {mode} within goal"] = figures["meets_goal"]
            summary.append(
                f"{version} {mode} +{figures['extra_queries']} queries, "
                f"time x{figures['median_time_ratio']}"
            )
    result = {
        "benchmark": "saleor_checkout",
        "pairs": pairs,
        "lines": measured,
        "goals": goals,
        "summary": "; ".join(summary),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    outcome = main()
    sys.exit(1 if any("error" in modes for modes in outcome.get("lines", {}).values()) else 0)
