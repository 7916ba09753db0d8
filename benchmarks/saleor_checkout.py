"""What the plugin adds to a paid checkoutComplete in a real Saleor (issue 11).

Run from the checkout, with the Python of a virtualenv where Saleor is installed (README,
"Testing against Saleor"), e.g. ``~/.venvs/saleor-retention-plugin-py312/bin/python -m
benchmarks.saleor_checkout``. Prints one JSON object: per mode, the SQL queries of one
completion with and without the plugin (median), the extra queries, the median times and
their ratio, over ``--pairs`` completions of each kind (default 30), plugin on and off
interleaved in one run. Modes: ``inline`` (no broker: the plugin's tasks run in the
request, as in small installs) and ``queued`` (a real Redis broker, ``RETENTION_BROKER_URL``,
takes the tasks; the request only hands them over).

Goals (issue 11): at most 15 extra queries and a time ratio of at most 1.05 inline; at most
2 extra queries and 1.02 queued. ``tests/saleor/test_checkout_cost.py`` asserts the query
counts. Saleor's fixtures build the shop, so the measurement runs as one pytest item
(``tests/saleor/bench_checkout_cost.py``) in the Saleor tier's reusable test database
(``RETENTION_SALEOR_TEST_DB``; default ``test_retention_saleor_bench``, migrated on first use).
Without Saleor it prints ``{"skipped": reason}`` and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOALS = {
    "inline": {"max_extra_queries": 15, "max_median_time_ratio": 1.05},
    "queued": {"max_extra_queries": 2, "max_median_time_ratio": 1.02},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=30, help="completions of each kind")
    parser.add_argument("--modes", default="inline,queued", help="inline, queued or both")
    args = parser.parse_args(argv)
    try:
        saleor_version = importlib.metadata.version("saleor")
    except importlib.metadata.PackageNotFoundError:
        print(json.dumps({"benchmark": "saleor_checkout", "skipped": "Saleor is not installed"}))
        return 0

    import pytest

    os.chdir(ROOT)
    os.environ.setdefault("RETENTION_SALEOR_TEST_DB", "test_retention_saleor_bench")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "result.json"
        os.environ.update(
            RETENTION_CHECKOUT_BENCH_OUT=str(out),
            RETENTION_CHECKOUT_BENCH_PAIRS=str(args.pairs),
            RETENTION_CHECKOUT_BENCH_MODES=args.modes,
        )
        # pytest reports on stderr: stdout carries the one JSON object.
        with contextlib.redirect_stdout(sys.stderr):
            exit_code = pytest.main(
                [
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
                ]
            )
        if exit_code != 0 or not out.exists():
            print(json.dumps({"benchmark": "saleor_checkout", "error": f"pytest exit {exit_code}"}))
            return 1
        modes = json.loads(out.read_text())
    for mode, result in modes.items():
        goal = GOALS[mode]
        result["goal"] = goal
        result["meets_goal"] = (
            result["extra_queries"] <= goal["max_extra_queries"]
            and result["median_time_ratio"] <= goal["max_median_time_ratio"]
        )
    print(
        json.dumps(
            {
                "benchmark": "saleor_checkout",
                "saleor": saleor_version,
                "python": platform.python_version(),
                "pairs": args.pairs,
                **modes,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
