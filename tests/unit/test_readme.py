"""The README is the merchant's configuration reference: it must not drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from saleor_retention_plugin.conf import SETTING_FIELDS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize("field", SETTING_FIELDS, ids=lambda field: field.name)
def test_every_setting_is_documented_with_its_default(field):
    row = re.search(rf"^\| `{field.name}`.*$", README, re.MULTILINE)

    assert row, f"README has no row for {field.name}"
    default = f"`{field.default}`" if field.default else "(empty)"
    assert f"| {default} |" in row.group(0)


def test_the_readme_gives_the_two_commands():
    assert "make sandbox" in README
    assert "make test" in README
