"""Modules of one concern: none of the package's modules grows past 600 lines."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "saleor_retention_plugin"
MAX_LINES = 600


def test_no_module_outside_migrations_is_over_600_lines():
    too_long = {
        str(path.relative_to(PACKAGE_DIR)): lines
        for path in PACKAGE_DIR.rglob("*.py")
        if "migrations" not in path.parts
        and (lines := len(path.read_text().splitlines())) > MAX_LINES
    }

    assert too_long == {}, "split these modules by concern"
