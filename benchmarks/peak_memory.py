"""A process's own peak resident memory, which ``getrusage`` does not give a child on Linux.

Linux keeps ``ru_maxrss`` across ``fork`` and ``exec``: a child started by a process holding
726 MB reports at least 726 MB, whatever it used itself (seen in a full ``make bench``,
where the backfill's children reported the runner's peak, not theirs). ``VmHWM`` in
``/proc/self/status`` is the high-water mark of the memory map, which ``exec`` replaces,
so it counts only what the program itself touched.

``python -m benchmarks.peak_memory MODULE [ARGS...]`` runs ``MODULE`` as ``python -m``
would and, when it exits (normally, by ``sys.exit`` or after Ctrl-C), writes
``retention-bench-peak-kb=<KB>`` as the last line on stderr; ``peak_from_stderr`` reads it.
"""

from __future__ import annotations

import atexit
import re
import resource
import runpy
import sys

MARKER = "retention-bench-peak-kb="
_LINE = re.compile(rf"^{re.escape(MARKER)}(\d+)$", re.MULTILINE)


def own_peak_kb() -> int:
    """This process's peak resident memory in KB since it started its program.

    ``VmHWM`` where ``/proc`` has it (Linux); elsewhere ``ru_maxrss``, which macOS gives in
    bytes and other systems in KB, and which there has no inherited part to leave out.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def peak_from_stderr(stderr: str) -> float | None:
    """The child's own peak in MB from what it wrote on stderr (None: it never got there)."""
    found = _LINE.findall(stderr)
    return round(int(found[-1]) / 1024, 1) if found else None


def _report() -> None:
    sys.stderr.write(f"\n{MARKER}{own_peak_kb()}\n")
    sys.stderr.flush()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m benchmarks.peak_memory MODULE [ARGS...]")
    module, sys.argv = sys.argv[1], sys.argv[1:]
    atexit.register(_report)
    runpy.run_module(module, run_name="__main__", alter_sys=True)
