"""benchmarks.peak_memory: a child's own peak, not the memory it inherited at the fork."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.peak_memory import MARKER, peak_from_stderr

ROOT = Path(__file__).resolve().parents[2]
HELD_MB = 300


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="VmHWM is Linux's")
def test_a_child_reports_its_own_peak_not_the_parents() -> None:
    held = bytearray(HELD_MB * 1024 * 1024)
    held[::4096] = b"\x01" * len(held[::4096])  # touch every page: resident
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.peak_memory", "json.tool", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    peak = peak_from_stderr(done.stderr)
    assert peak is not None
    # getrusage in the child (and wait4 here) would say at least HELD_MB.
    assert 1 < peak < HELD_MB / 3, done.stderr
    del held


def test_the_peak_is_read_from_the_last_marker_line() -> None:
    stderr = f"some output\n{MARKER}2048\nTraceback? no\n{MARKER}4096\n"
    assert peak_from_stderr(stderr) == 4.0
    assert peak_from_stderr("no marker here") is None
