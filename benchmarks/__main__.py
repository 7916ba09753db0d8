"""Run every benchmark: ``python -m benchmarks [--only NAME] [--scale small] [--out FILE]``.

Each benchmark is a module of this package with ``main() -> dict``; its dict holds its
figures, a ``goals`` mapping (goal -> met) where it has goals, and a one-line
``summary``. The runner prints one line per benchmark and writes every dict to one JSON
file (``--out``, default ``.benchmarks/results.json``).

The benchmarks share one PostgreSQL database of their own, ``RETENTION_BENCH_DB``
(default ``retention_bench``) on the server of ``DATABASE_URL``; the runner creates it
and drops it at the end (``--keep-db`` keeps it).

``make bench`` runs this with the project's virtualenv; run directly, a Python without
the project's dependencies re-runs itself with ``$VENV/bin/python``
(default ``~/.venvs/saleor-retention-plugin``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# In the order they run. Add a module's name here to add it to the command; a name whose
# module is not in this checkout is reported as skipped.
REGISTRY: list[str] = [
    "ledger_path",
    "account_read",
    "tier_reevaluation",
    "sweeps",
    "sandbox_speed",
    "saleor_checkout",
    "report_scaling",
    "backfill_memory",
    "lifecycle_due",
    "flows_cost",
]

# Under .benchmarks/ (ignored by git): results are measurements, not source.
DEFAULT_OUT = Path(__file__).resolve().parent.parent / ".benchmarks" / "results.json"


class Skip(Exception):
    """Raised by a benchmark that cannot run here (say, Saleor is not importable)."""


def reexec_with_project_venv() -> None:
    """Re-run with the project's virtualenv when this Python lacks its dependencies."""
    try:
        import django  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as missing:
        venv = Path(os.environ.get("VENV", Path.home() / ".venvs" / "saleor-retention-plugin"))
        python = venv / "bin" / "python"
        if python.exists() and Path(sys.prefix).resolve() != venv.resolve():
            os.execv(str(python), [str(python), "-m", "benchmarks", *sys.argv[1:]])
        raise SystemExit(
            f"{missing}: run `make bench`, or install the project (`make install`) first"
        ) from None


def machine() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": _cpu_model(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def run_one(name: str) -> dict[str, Any]:
    if importlib.util.find_spec(f"benchmarks.{name}") is None:
        return {"status": "skipped", "summary": f"skipped: benchmarks/{name}.py is not here"}
    started = time.perf_counter()
    try:
        module = importlib.import_module(f"benchmarks.{name}")
        result = dict(module.main())
    except Skip as reason:
        return {"status": "skipped", "summary": f"skipped: {reason}"}
    except Exception as error:
        return {
            "status": "error",
            "summary": f"error: {type(error).__name__}: {error}",
            "traceback": traceback.format_exc(),
        }
    if result.get("skipped"):  # a benchmark that found nothing to measure here says why
        return {**result, "status": "skipped", "summary": f"skipped: {result['skipped']}"}
    result.setdefault("summary", "")
    goals = result.get("goals") or {}
    result["status"] = "goal not met" if not all(goals.values()) else "ok"
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        choices=REGISTRY,
        help="run only this benchmark (repeatable)",
    )
    parser.add_argument(
        "--scale",
        choices=["full", "small"],
        default=None,
        help="full: the sizes the goals are stated at (default); small: a quick check",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write")
    parser.add_argument("--keep-db", action="store_true", help="keep the benchmark database")
    args = parser.parse_args(argv)
    if args.scale:
        os.environ["RETENTION_BENCH_SCALE"] = args.scale
    reexec_with_project_venv()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

    from benchmarks import support

    names = args.only or REGISTRY
    results: dict[str, Any] = {
        "machine": machine(),
        "scale": support.scale().name,
        "database": support.database_name(),
        "benchmarks": {},
    }
    try:
        # Django on the benchmark database before any benchmark module is imported.
        support.setup_django()
        for name in names:
            result = run_one(name)
            results["benchmarks"][name] = result
            print(f"{name:<20} {result['status']:<13} {result['summary']}", flush=True)
            if result["status"] == "error":
                print(result["traceback"], file=sys.stderr)
    finally:
        if support._ready and not args.keep_db:
            support.drop_database()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")
    return 1 if any(r["status"] == "error" for r in results["benchmarks"].values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
