"""benchmarks.sandbox_floor: the database's share of a sandbox story is measured.

Issue 8's verdict on the sandbox's time goals rests on it: a timer that stopped applying
would read zero (or divide by it), not a figure.
"""

from __future__ import annotations

from benchmarks.sandbox_floor import measure


def test_a_story_is_timed_inside_sqlite_and_apart_from_migrating() -> None:
    figures = measure("--customers", "1", "--weeks", "1")

    # The cursor's calls were timed: a share strictly between nothing and everything.
    assert 0 < figures["database_cpu_seconds"] < figures["story_cpu_seconds"]
    assert 0 < figures["database_share"] < 1
    assert figures["max_speedup"] > 1
    # Migrating the fresh database is counted apart, in time and in statements.
    assert figures["migrate_cpu_seconds"] > 0
    assert (
        figures["cpu_seconds"]
        >= figures["story_cpu_seconds"] + figures["migrate_cpu_seconds"] - 0.02
    )
    assert figures["story_statements"] > 0
