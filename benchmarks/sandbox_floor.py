"""How much of the sandbox's time is the database itself, and so how fast it could get.

Runs ``retention-sandbox`` (its embedded SQLite database) in a child process whose SQLite
cursor is timed: the CPU seconds spent inside SQLite's ``execute``, ``executemany`` and
``fetch*`` calls (the C library and the driver) against the whole story. Migrating the
fresh database is counted apart. ``max_speedup`` is the story's CPU divided by its
database CPU: how much faster the story would get if every line of Python around the
database (Django building each statement, the plugin's rules, the simulation) cost
nothing. A goal that needs more than that cannot be met while every simulated event runs
the plugin's real tasks on this machine. ``needed_speedup`` is what a goal asks of this
run's CPU: the default story's 15 s, and for the big story's 3 minutes the slice's story
CPU projected linearly to 52 weeks (plus migrating). The ``goals`` say whether each goal is
within that bound at all, a necessary condition, far from a sufficient one.

Two stories: the default one and a slice of the big one (1,000 customers, 2 weeks;
``SANDBOX_FLOOR_WEEKS`` for another length; 25 customers a channel and 1 week with
``--scale small``, where the big goal is not judged).

Run: python -m benchmarks.sandbox_floor (or ``make bench BENCH_ARGS="--only sandbox_floor"``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from typing import Any

# Issue 8's goals, as in sandbox_speed: the default story, and 52 weeks of 1,000 customers.
DEFAULT_GOAL_SECONDS = 15.0
BIG_GOAL_SECONDS = 180.0
BIG_STORY_DAYS = 364


def measure(*args: str) -> dict[str, Any]:
    """Run the sandbox once with ``args`` in a timed child; its figures (CPU seconds).

    Raises RuntimeError when the sandbox fails.
    """
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.sandbox_floor", "--child", out.name, *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            raise RuntimeError(f"retention-sandbox {' '.join(args)} failed: {child.stderr[-2000:]}")
        timed: dict[str, float] = json.loads(out.read())
    story = timed["cpu"] - timed["migrate"]
    database = timed["database"] - timed["migrate_database"]
    return {
        "args": list(args),
        "cpu_seconds": round(timed["cpu"], 2),
        "migrate_cpu_seconds": round(timed["migrate"], 2),
        "story_cpu_seconds": round(story, 2),
        "database_cpu_seconds": round(database, 2),
        "story_statements": int(timed["statements"] - timed["migrate_statements"]),
        "database_share": round(database / story, 3),
        "max_speedup": round(story / database, 1),
    }


def _child(out: str, args: list[str]) -> None:
    """In the child: time SQLite's cursor calls around the sandbox's ``main(args)``."""
    timer = dict.fromkeys(
        ("database", "statements", "migrate", "migrate_database", "migrate_statements"), 0.0
    )

    def timed(call: Any, *, statement: bool = False) -> Any:
        def wrapper(*positional: Any, **named: Any) -> Any:
            started = time.process_time()
            try:
                return call(*positional, **named)
            finally:
                timer["database"] += time.process_time() - started
                timer["statements"] += statement

        return wrapper

    from django.core import management
    from django.db.backends.sqlite3 import base

    cursor = base.SQLiteCursorWrapper
    cursor.execute = timed(cursor.execute, statement=True)  # type: ignore[method-assign]
    cursor.executemany = timed(cursor.executemany, statement=True)  # type: ignore[method-assign]
    for name in ("fetchone", "fetchmany", "fetchall"):
        setattr(cursor, name, timed(getattr(sqlite3.Cursor, name)))
    call_command = management.call_command

    def timed_call_command(command_name: Any, *positional: Any, **named: Any) -> str:
        before = {**timer, "cpu": time.process_time()}
        try:
            return call_command(command_name, *positional, **named)
        finally:
            if command_name == "migrate":
                timer["migrate"] += time.process_time() - before["cpu"]
                timer["migrate_database"] += timer["database"] - before["database"]
                timer["migrate_statements"] += timer["statements"] - before["statements"]

    # The sandbox imports call_command from here when it migrates.
    management.call_command = timed_call_command

    from saleor_retention_plugin.sandbox.main import main

    started = time.process_time()
    status = main(args)
    total = time.process_time() - started
    if status:
        raise SystemExit(status)
    with open(out, "w") as file:
        json.dump({**timer, "cpu": total}, file)  # unrounded: ``measure`` derives the figures


def main() -> dict[str, Any]:
    small = os.environ.get("RETENTION_BENCH_SCALE") == "small"
    customers = "25" if small else "500"
    weeks = os.environ.get("SANDBOX_FLOOR_WEEKS", "1" if small else "2")
    default = measure()
    default["needed_speedup"] = round(default["cpu_seconds"] / DEFAULT_GOAL_SECONDS, 1)
    big_slice = measure("--customers", customers, "--weeks", weeks)
    goals = {"default_15s_possible_without_python": _possible(default)}
    big_summary = ""
    if not small:
        projected = big_slice["migrate_cpu_seconds"] + big_slice["story_cpu_seconds"] * (
            BIG_STORY_DAYS / (7 * int(weeks))
        )
        big_slice["projected_cpu_seconds"] = round(projected)
        big_slice["needed_speedup"] = round(projected / BIG_GOAL_SECONDS, 1)
        goals["big_3_minutes_possible_without_python"] = _possible(big_slice)
        big_summary = f", {big_slice['needed_speedup']}x needed for 3 minutes over 52 weeks"
    return {
        "default": default,
        "big_slice": big_slice,
        "goals": goals,
        "summary": (
            f"default story: {default['database_share']:.1%} of its {default['story_cpu_seconds']} "
            f"CPU s inside SQLite, at most {default['max_speedup']}x faster with no Python, "
            f"{default['needed_speedup']}x needed for 15 s; {2 * int(customers):,} customers x "
            f"{weeks} weeks: {big_slice['database_share']:.1%} inside SQLite, at most "
            f"{big_slice['max_speedup']}x{big_summary}"
        ),
    }


def _possible(figures: dict[str, Any]) -> bool:
    """Whether the speedup a goal needs is within what removing all Python would give."""
    return bool(figures["needed_speedup"] <= figures["max_speedup"])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], sys.argv[3:])
    else:
        print(json.dumps(main(), indent=2))
