# ruff: noqa: T201  (a profiling run by hand: it prints its report)
"""Where the plugin's time goes in a paid ``checkoutComplete`` with tasks inline.

Not collected by the tier (its name does not start with ``test_``); run it by hand:

    RETENTION_SALEOR_TEST_DB=<db> <saleor venv>/bin/python -m pytest \
        tests/saleor/profile_checkout_cost.py --ds=tests.saleor.settings --reuse-db -s

It completes ``RETENTION_PROFILE_PAIRS`` (default 20) checkouts with and without the
plugin, interleaved, under cProfile, and prints per completion: the wall time with and
without the plugin (profiled, so inflated alike), the plugin's own time (every call into
the plugin's package from outside it, callees included), and the plugin's most expensive
functions. ``RETENTION_PROFILE_OUT`` writes the raw stats of the plugin-on completions.
"""

import cProfile
import os
import pstats
import statistics
import time

import pytest

from .checkout_cost import tasks_run
from .test_checkout_cost import bench  # noqa: F401  (the fixture)

PACKAGE = f"{os.sep}saleor_retention_plugin{os.sep}"


def _in_plugin(function: tuple[str, int, str]) -> bool:
    return PACKAGE in function[0]


def _entries(stats: pstats.Stats) -> list:
    return list(stats.stats.items())  # type: ignore[attr-defined]


def plugin_seconds(stats: pstats.Stats) -> float:
    """Inclusive time of every call into the plugin's code from code outside it."""
    total = 0.0
    for function, (_cc, _nc, _tt, _ct, callers) in _entries(stats):
        if not _in_plugin(function):
            continue
        for caller, (_c, _n, _t, cumulative) in callers.items():
            if not _in_plugin(caller):
                total += cumulative
    return total


@pytest.mark.django_db(transaction=True)
def test_profile_checkout_cost(bench, capsys):  # noqa: F811
    pairs = int(os.environ.get("RETENTION_PROFILE_PAIRS", "20"))
    profiles: dict[bool, list[cProfile.Profile]] = {True: [], False: []}
    walls: dict[bool, list[float]] = {True: [], False: []}
    with tasks_run("inline"):
        for index in range(pairs):
            for with_plugin in (index % 2 == 0, index % 2 != 0):
                # Only the request is profiled, not the building of the paid checkout.
                profile = cProfile.Profile()
                original = bench.client.post_graphql

                def profiled(*args, _profile=profile, _post=original, **kwargs):
                    _profile.enable()
                    try:
                        return _post(*args, **kwargs)
                    finally:
                        _profile.disable()

                bench.client.post_graphql = profiled
                try:
                    started = time.perf_counter()
                    bench.complete(with_plugin=with_plugin)
                    walls[with_plugin].append(time.perf_counter() - started)
                finally:
                    bench.client.post_graphql = original
                profiles[with_plugin].append(profile)
    plugin_each = [plugin_seconds(pstats.Stats(profile)) for profile in profiles[True]]
    on = profiles[True][0]
    stats = pstats.Stats(on)
    for profile in profiles[True][1:]:
        stats.add(profile)
    if os.environ.get("RETENTION_PROFILE_OUT"):
        stats.dump_stats(os.environ["RETENTION_PROFILE_OUT"])
    with capsys.disabled():
        print()
        print(
            f"{pairs} completions each (profiled, building the checkout included): median wall "
            f"{statistics.median(walls[True]) * 1000:.1f} ms with the plugin, "
            f"{statistics.median(walls[False]) * 1000:.1f} ms without; plugin's own time "
            f"median {statistics.median(plugin_each) * 1000:.2f} ms, "
            f"mean {statistics.mean(plugin_each) * 1000:.2f} ms per completion"
        )
        rows = [
            (function, ct / pairs, tt / pairs, nc / pairs)
            for function, (_cc, nc, tt, ct, _callers) in _entries(stats)
            if _in_plugin(function)
        ]
        print("plugin functions by inclusive ms per completion (own ms, calls):")
        for function, ct, tt, nc in sorted(rows, key=lambda row: -row[1])[:40]:
            where = function[0].split("saleor_retention_plugin" + os.sep, 1)[1]
            name = f"{where}:{function[1]} {function[2]}"
            print(f"  {ct * 1000:8.2f} {tt * 1000:7.2f} {nc:5.1f}  {name}")
