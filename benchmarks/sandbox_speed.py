"""How fast the sandbox tells its story, and how much memory it needs.

Runs ``retention-sandbox`` in a child process (its embedded SQLite database, as a new user
runs it) for the default story and for a big one, and returns wall and CPU seconds, peak
memory (MB, the child's maximum resident set) and the goals they are held to: the default
run under 15 s; 1,000 customers over 52 weeks under 3 minutes and 300 MB.

A run still going at its time limit has missed its goal already: it is stopped there with
Ctrl-C (SIGINT, which the sandbox honours between events) and the figures say how far the
story got (``simulated_days`` of ``story_days``), its CPU cost per simulated
customer-week, and ``projected_cpu_seconds`` for the whole story at that rate (a linear
projection, not a measurement). The memory goal is judged only on a run that finished.

Run: python -m benchmarks.sandbox_speed (or ``make bench BENCH_ARGS="--only sandbox_speed"``).
Sizes: SANDBOX_BENCH_CUSTOMERS (per channel, two channels; default 500, i.e. 1,000
customers; 25 with ``--scale small``) and SANDBOX_BENCH_WEEKS (default 52; 4 small).
SANDBOX_BENCH_LIMIT: seconds before the big run is stopped (default 180, the goal;
0 lets it run to the end). The load average beside the figures says how busy the machine
was: on a shared machine wall time is the CPU time divided by the share the run got.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from typing import Any

from benchmarks.peak_memory import peak_from_stderr

SANDBOX = "saleor_retention_plugin.sandbox"
GOALS = {"default": {"seconds": 15.0}, "big": {"seconds": 180.0, "peak_mb": 300.0}}
GOAL_SIZE = ("500", "52")
DEFAULT_STORY = (8, 12)  # customers per channel, weeks: retention-sandbox's defaults
# Printed by the sandbox when Ctrl-C stops it (sandbox/main.py).
STOPPED_AT = re.compile(r"stopped at simulated (\d{4}-\d{2}-\d{2}) .* of (\d{4}-\d{2}-\d{2})")


def measure(*args: str, limit: float | None = None) -> dict[str, Any]:
    """Run the sandbox once with ``args``.

    Returns wall and CPU seconds, peak memory (MB) and, when ``limit`` seconds stopped it
    first, how far the story got. Raises RuntimeError when the sandbox fails.
    """
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    # benchmarks.peak_memory is imported from this checkout, wherever the runner was started.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryFile() as stderr_file:
        started = time.perf_counter()
        child = subprocess.Popen(
            # Through peak_memory, which reports the sandbox's own peak: the wait4 usage
            # below would include this runner's memory at the fork.
            [sys.executable, "-m", "benchmarks.peak_memory", SANDBOX, *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr_file,
        )
        stopped, status, usage = _wait(child, limit)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        stderr_file.seek(0)
        stderr = stderr_file.read().decode(errors="replace")
    if child.returncode != (130 if stopped else 0):
        raise RuntimeError(f"retention-sandbox {' '.join(args)} failed: {stderr.strip()[-2000:]}")
    figures: dict[str, Any] = {
        "args": list(args),
        "finished": not stopped,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_mb": peak_from_stderr(stderr),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    if stopped:
        # No line when it was stopped before the story began (still migrating).
        reached = STOPPED_AT.search(stderr)
        weeks = int(args[args.index("--weeks") + 1]) if "--weeks" in args else DEFAULT_STORY[1]
        figures["stopped_after_seconds"] = limit
        figures["simulated_days"] = _days_between(args, reached.group(1)) if reached else 0
        figures["story_days"] = 7 * weeks
    return figures


def _wait(child: subprocess.Popen[bytes], limit: float | None) -> tuple[bool, int, Any]:
    """Wait for the child; at ``limit`` seconds stop it with SIGINT.

    Returns whether it was stopped, its wait status and its resource usage (``wait4``).
    """
    deadline = None if limit is None else time.monotonic() + limit
    stopped = False
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            return stopped, status, usage
        if deadline is not None and time.monotonic() >= deadline:
            if stopped:
                child.kill()  # ignored Ctrl-C for 5 minutes
            else:
                child.send_signal(signal.SIGINT)  # it stops after the event in hand, cleans up
                stopped, deadline = True, deadline + 300
        time.sleep(0.2)


def _days_between(args: tuple[str, ...], day: str) -> int:
    start = args[args.index("--start") + 1] if "--start" in args else "2026-01-05"
    return (date.fromisoformat(day) - date.fromisoformat(start)).days


def per_customer_week(figures: dict[str, Any], customers: int, weeks: float) -> float:
    """CPU seconds per simulated customer-week (start-up and report included)."""
    return round(figures["cpu_seconds"] / (customers * weeks), 4)


def main() -> dict[str, Any]:
    small = os.environ.get("RETENTION_BENCH_SCALE") == "small"
    customers = os.environ.get("SANDBOX_BENCH_CUSTOMERS", "25" if small else GOAL_SIZE[0])
    weeks = os.environ.get("SANDBOX_BENCH_WEEKS", "4" if small else GOAL_SIZE[1])
    limit = float(os.environ.get("SANDBOX_BENCH_LIMIT", GOALS["big"]["seconds"])) or None
    default = measure()
    default["cpu_per_customer_week"] = per_customer_week(
        default, 2 * DEFAULT_STORY[0], DEFAULT_STORY[1]
    )
    big = measure("--customers", customers, "--weeks", weeks, limit=limit)
    simulated_weeks = (big["simulated_days"] / 7) if not big["finished"] else int(weeks)
    if simulated_weeks:
        big["cpu_per_customer_week"] = per_customer_week(big, 2 * int(customers), simulated_weeks)
    if not big["finished"] and big["simulated_days"]:
        big["projected_cpu_seconds"] = round(
            big["cpu_seconds"] * big["story_days"] / big["simulated_days"]
        )
    goals = {"default_under_15s": default["seconds"] < GOALS["default"]["seconds"]}
    if (customers, weeks) == GOAL_SIZE:
        # A smaller run than the goal's says nothing about it.
        goals["big_under_3_minutes"] = big["finished"] and big["seconds"] < GOALS["big"]["seconds"]
        if big["finished"]:
            peak = big["peak_mb"]
            goals["big_under_300_mb"] = peak is not None and peak < GOALS["big"]["peak_mb"]
    return {
        "default": default,
        "big": big,
        "goal_figures": GOALS,
        "goals": goals,
        "summary": _summary(default, big, int(customers), weeks, goals),
    }


def _summary(
    default: dict[str, Any], big: dict[str, Any], customers: int, weeks: str, goals: dict[str, bool]
) -> str:
    head = (
        f"default {default['seconds']} s ({default['cpu_seconds']} CPU s, "
        f"{default['peak_mb']} MB); {2 * customers:,} customers x {weeks} weeks: "
    )
    if big["finished"]:
        body = f"{big['seconds']} s ({big['cpu_seconds']} CPU s), {big['peak_mb']} MB"
    else:
        body = (
            f"stopped at {big['stopped_after_seconds']:g} s after {big['simulated_days']} of "
            f"{big['story_days']} days ({big['cpu_seconds']} CPU s, {big['peak_mb']} MB so far; "
            f"about {big.get('projected_cpu_seconds', '?')} CPU s for the whole story)"
        )
    verdict = "goal met" if all(goals.values()) else "goal NOT met"
    return f"{head}{body}; load {big['load_average'][1]}; {verdict}"


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
