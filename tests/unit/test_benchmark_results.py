"""The benchmark command's JSON holds every figure issue 12 lists, or says what is missing.

``benchmarks.__main__.FIGURES`` names, per benchmark, the figures its dict must hold; the
runner reports a result without one of them as ``incomplete`` and ``--check FILE`` lists
what a results file lacks. No benchmark runs here (no database).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from benchmarks.__main__ import FIGURES, REGISTRY, check, finish, missing_figures

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
HISTORY = 10_000


def complete_result(name: str, goals_met: bool = True) -> dict[str, Any]:
    """A result holding every figure ``FIGURES[name]`` asks for (each set to 1)."""
    result: dict[str, Any] = {"summary": f"{name} figures", "goals": {"a goal": goals_met}}
    for pattern in FIGURES[name]:
        steps = pattern.format(history=HISTORY).split(".")
        node: Any = result
        for step, after in zip(steps, [*steps[1:], None], strict=True):
            value: Any = 1 if after is None else [] if after.isdigit() else {}
            if isinstance(node, list):
                while len(node) <= int(step):
                    node.append(value)
                node = node[int(step)]
            else:
                node = node.setdefault(step, value)
    return result


def test_every_registered_benchmark_has_a_module_and_its_figures_listed():
    assert set(FIGURES) == set(REGISTRY)
    for name in REGISTRY:
        assert (BENCHMARKS_DIR / f"{name}.py").exists(), name
        assert FIGURES[name], name


@pytest.mark.parametrize("name", REGISTRY)
def test_each_figure_is_a_key_its_benchmark_writes(name):
    """Every named key of a figure's path is a string literal of its module.

    A renamed figure fails here, not at the end of an hour-long run.
    """
    source = (BENCHMARKS_DIR / f"{name}.py").read_text()
    for pattern in FIGURES[name]:
        for key in re.split(r"[./]", pattern):
            if key.isdigit() or key.startswith("{"):
                continue
            assert f'"{key}"' in source or f"'{key}'" in source, (name, pattern, key)


@pytest.mark.parametrize("name", REGISTRY)
def test_a_result_with_every_figure_and_its_goals_met_is_ok(name):
    result = finish(name, complete_result(name), seconds=1.23, history=HISTORY)

    assert result["status"] == "ok"
    assert result["seconds"] == 1.2
    assert "missing" not in result


def test_a_goal_not_met_is_reported_as_such():
    result = finish("sweeps", complete_result("sweeps", goals_met=False), 1, HISTORY)

    assert result["status"] == "goal not met"


def test_a_missing_figure_makes_the_result_incomplete_and_the_summary_names_it():
    result = complete_result("ledger_path")
    del result["beside_other_rows"]["times_the_floor"]
    result["slowdown_beside_other_rows"] = None

    finished = finish("ledger_path", result, 1, HISTORY)

    assert finished["status"] == "incomplete"
    assert finished["missing"] == [
        "beside_other_rows.times_the_floor",
        "slowdown_beside_other_rows",
    ]
    assert finished["summary"].startswith(
        "incomplete, missing beside_other_rows.times_the_floor, slowdown_beside_other_rows: "
    )


def test_a_result_without_goals_or_summary_is_incomplete():
    result = complete_result("lifecycle_due")
    result["goals"] = {}
    result["summary"] = ""

    assert missing_figures("lifecycle_due", result, HISTORY) == ["summary", "goals"]
    assert finish("lifecycle_due", result, 1, HISTORY)["status"] == "incomplete"


def test_the_account_read_needs_the_long_history_of_its_scale():
    result = complete_result("account_read")

    assert missing_figures("account_read", result, HISTORY) == []
    assert "cases.small_other_data/hoarder/1000.ms" in missing_figures(
        "account_read", result, 1_000
    )


def test_a_list_figure_past_the_end_is_missing():
    result = complete_result("backfill_memory")
    result["runs"] = result["runs"][:1]

    assert missing_figures("backfill_memory", result, HISTORY) == [
        "runs.1.orders",
        "runs.1.peak_rss_mb",
        "runs.1.orders_per_second",
    ]


def test_a_skipped_benchmark_says_why():
    result = finish("saleor_checkout", {"skipped": "no Saleor here"}, 1, HISTORY)

    assert result["status"] == "skipped"
    assert result["summary"] == "skipped: no Saleor here"


def test_check_lists_what_a_results_file_lacks(capsys):
    results: dict[str, Any] = {
        "scale": "full",
        "benchmarks": {name: complete_result(name) for name in REGISTRY if name != "flows_cost"},
    }
    del results["benchmarks"]["sweeps"]["cart_sweep"]["ratio"]

    assert check(json.loads(json.dumps(results))) == 1

    lines = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert lines["flows_cost"] == "not run"
    assert lines["sweeps"] == "missing cart_sweep.ratio"
    assert lines["ledger_path"] == "every figure present"


def test_check_passes_a_complete_results_file(capsys):
    results = {"scale": "full", "benchmarks": {name: complete_result(name) for name in REGISTRY}}

    assert check(results) == 0
    assert capsys.readouterr().out.count("every figure present") == len(REGISTRY)
