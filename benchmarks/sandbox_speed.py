"""How fast the sandbox tells its story, and how much memory it needs.

Runs ``retention-sandbox`` in a child process (its embedded SQLite database, as a new user
runs it) for the default story and for a big one, and prints one JSON object: wall and CPU
seconds, peak memory (MB, the child's maximum resident set) and the goals they are held to
(default run under 15 s; 1,000 customers over 52 weeks under 3 minutes and 300 MB).

Run: python -m benchmarks.sandbox_speed
Big run size: SANDBOX_BENCH_CUSTOMERS (per channel, two channels; default 500, i.e. 1,000
customers) and SANDBOX_BENCH_WEEKS (default 52).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

GOALS = {"default": {"seconds": 15.0}, "big": {"seconds": 180.0, "peak_mb": 300.0}}


def measure(*args: str) -> dict[str, Any]:
    """Run the sandbox once with ``args``; its wall time, CPU time and peak memory."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "saleor_retention_plugin.sandbox", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    stderr = child.stderr.read().decode() if child.stderr else ""
    if child.returncode != 0:
        raise SystemExit(f"retention-sandbox {' '.join(args)} failed: {stderr.strip()}")
    return {
        "args": list(args),
        "seconds": round(seconds, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports KB
    }


def main() -> None:
    customers = os.environ.get("SANDBOX_BENCH_CUSTOMERS", "500")
    weeks = os.environ.get("SANDBOX_BENCH_WEEKS", "52")
    default = measure()
    big = measure("--customers", customers, "--weeks", weeks)
    big_is_the_goal = (customers, weeks) == ("500", "52")
    print(
        json.dumps(
            {
                "benchmark": "sandbox_speed",
                "default": default,
                "big": big,
                "goals": GOALS,
                "default_meets_goal": default["seconds"] < GOALS["default"]["seconds"],
                "big_meets_goal": (
                    big["seconds"] < GOALS["big"]["seconds"]
                    and big["peak_mb"] < GOALS["big"]["peak_mb"]
                    if big_is_the_goal
                    else None  # a smaller run than the goal's says nothing about it
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
