"""Run every benchmark: ``python -m benchmarks [--only NAME] [--scale small] [--out FILE]``.

``python -m benchmarks --check FILE`` runs nothing and says which benchmarks and figures
(``FIGURES``) a results file lacks.

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
    "sandbox_floor",
    "saleor_checkout",
    "report_scaling",
    "lifecycle_due",
    "flows_cost",
    # The slowest (an hour at 1 million orders with the purchase-summary triggers) last,
    # so a run stopped for time has every other figure.
    "backfill_memory",
]

# The figures issue 12 asks the JSON to hold, per benchmark: dotted paths into its dict
# (a number is a list index; ``{history}`` is the scale's long history, 10,000 entries at
# full scale). A result without one of them, or without a summary or goals,
# is reported as "incomplete" rather than passed over. Add a benchmark's row with it.
FIGURES: dict[str, tuple[str, ...]] = {
    "ledger_path": (
        "empty_shop.task_events_per_s",
        "empty_shop.floor_events_per_s",
        "empty_shop.times_the_floor",
        "empty_shop.queries_per_event",
        "beside_other_rows.other_rows",
        "beside_other_rows.task_events_per_s",
        "beside_other_rows.floor_events_per_s",
        "beside_other_rows.times_the_floor",
        "slowdown_beside_other_rows",
        "slowdown_beside_other_rows_load_adjusted",
    ),
    "account_read": (
        "ratios.spender_history",
        "ratios.hoarder_history",
        "ratios.other_data_10x",
        "query_counts",
        *(
            f"cases.{data}/{kind}/{entries}.{figure}"
            for data in ("small_other_data", "large_other_data")
            for kind in ("spender", "hoarder")
            for entries in ("10", "{history}")
            for figure in ("ms", "sql_ms", "queries")
        ),
        *(
            f"ratios.other_data_10x_by_customer.{kind}/{entries}"
            for kind in ("spender", "hoarder")
            for entries in ("10", "{history}")
        ),
    ),
    "tier_reevaluation": tuple(
        f"{side}.{figure}"
        for side in ("small", "big")
        for figure in ("accounts", "changed", "evaluated", "seconds", "ms_per_account")
    ),
    "sweeps": tuple(
        f"{sweep}.{figure}"
        for sweep in ("cart_sweep", "enrolment_sweep", "points_expiry", "code_expiry")
        for figure in ("small_rows", "big_rows", "small_ms", "big_ms", "ratio")
    ),
    "sandbox_speed": (
        "default.seconds",
        "default.cpu_seconds",
        "default.peak_mb",
        "big.seconds",
        "big.cpu_seconds",
        "big.peak_mb",
    ),
    "sandbox_floor": tuple(
        f"{story}.{figure}"
        for story in ("default", "big_slice")
        for figure in (
            "story_cpu_seconds",
            "database_cpu_seconds",
            "database_share",
            "max_speedup",
            "story_statements",
        )
    ),
    "saleor_checkout": ("lines",),
    "report_scaling": (
        "orders",
        "customers",
        "report_total_seconds",
        "report_sql_seconds",
        "fit_seconds",
        "pandas_seconds",
        "pandas_over_report",
        "figures_agree",
    ),
    "backfill_memory": (
        "runs.0.orders",
        "runs.0.peak_rss_mb",
        "runs.0.orders_per_second",
        "runs.1.orders",
        "runs.1.peak_rss_mb",
        "runs.1.orders_per_second",
        "peak_rss_growth_ratio",
    ),
    "lifecycle_due": tuple(
        f"{selection}.{figure}"
        for selection in ("replenishment", "replenishment_default_catalogue", "winback")
        for figure in ("small_customers", "big_customers", "due", "small_ms", "big_ms", "ratio")
    ),
    "flows_cost": (
        "campaign_enrolment.small.per_member_us",
        "campaign_enrolment.big.per_member_us",
        "campaign_enrolment.ratio_per_member",
        *(
            f"refresh.{flow}_{kind}.{figure}"
            for flow in ("replenishment", "winback")
            for kind in ("incremental", "rebuild")
            for figure in ("small_s", "big_s", "ratio")
        ),
        *(
            f"member_day_scan.{scan}.{figure}"
            for scan in ("due", "after_enrolment")
            for figure in ("small_ms", "big_ms", "ratio")
        ),
    ),
}

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


def missing_figures(name: str, result: dict[str, Any], history: int) -> list[str]:
    """The figures of ``FIGURES[name]`` (and ``summary``, ``goals``) that ``result`` lacks.

    A figure is missing when its path does not lead to a value, or leads to ``None``;
    ``history`` is the scale's long account history (``support.Scale.history``).
    """
    missing = [key for key in ("summary", "goals") if not result.get(key)]
    for pattern in FIGURES.get(name, ()):
        path = pattern.format(history=history)
        value: Any = result
        for step in path.split("."):
            if isinstance(value, dict):
                value = value.get(step)
            elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
                value = value[int(step)]
            else:
                value = None
            if value is None:
                missing.append(path)
                break
    return missing


def finish(name: str, result: dict[str, Any], seconds: float, history: int) -> dict[str, Any]:
    """A benchmark's dict with its ``status`` (and ``seconds``): what the runner reports.

    ``skipped`` when it says so; ``incomplete`` when a figure it must hold is missing (the
    summary names them); else ``goal not met`` unless every goal is met, or ``ok``.
    """
    if result.get("skipped"):  # a benchmark that found nothing to measure here says why
        return {**result, "status": "skipped", "summary": f"skipped: {result['skipped']}"}
    result = {**result, "seconds": round(seconds, 1)}
    result.setdefault("summary", "")
    missing = missing_figures(name, result, history)
    if missing:
        result["missing"] = missing
        result["status"] = "incomplete"
        result["summary"] = f"incomplete, missing {', '.join(missing)}: {result['summary']}"
    elif not all(result["goals"].values()):
        result["status"] = "goal not met"
    else:
        result["status"] = "ok"
    return result


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
    from benchmarks import support

    return finish(name, result, time.perf_counter() - started, support.scale().history)


def write(out: Path, results: dict[str, Any]) -> None:
    """Replace ``out`` with ``results`` as a whole (never a half-written file)."""
    partial = out.with_name(out.name + ".partial")
    partial.write_text(json.dumps(results, indent=2, default=str) + "\n")
    partial.replace(out)


def check(results: dict[str, Any]) -> int:
    """Print what a results file lacks, per benchmark; 1 when anything is missing."""
    from benchmarks import support

    history = support.SCALES[results["scale"]].history
    gaps = 0
    for name in REGISTRY:
        result = results["benchmarks"].get(name)
        if result is None:
            problem = "not run"
        elif result.get("status") in ("skipped", "error"):
            problem = result["summary"]
        else:
            missing = missing_figures(name, result, history)
            problem = f"missing {', '.join(missing)}" if missing else ""
        gaps += bool(problem)
        print(f"{name:<20} {problem or 'every figure present'}")
    return 1 if gaps else 0


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
    parser.add_argument(
        "--check",
        type=Path,
        metavar="FILE",
        help="run nothing: say which benchmarks and figures a results file lacks",
    )
    args = parser.parse_args(argv)
    if args.check:
        return check(json.loads(args.check.read_text()))
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
    args.out.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Django on the benchmark database before any benchmark module is imported.
        support.setup_django()
        for name in names:
            result = run_one(name)
            results["benchmarks"][name] = result
            print(f"{name:<20} {result['status']:<13} {result['summary']}", flush=True)
            if result["status"] == "error":
                print(result["traceback"], file=sys.stderr)
            # Written after each benchmark: a full run takes an hour or more, and one
            # stopped before its end keeps every figure it measured.
            write(args.out, results)
    finally:
        if support._ready and not args.keep_db:
            support.drop_database()
    write(args.out, results)
    print(f"wrote {args.out}")
    failed = ("error", "incomplete")
    return 1 if any(r["status"] in failed for r in results["benchmarks"].values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
