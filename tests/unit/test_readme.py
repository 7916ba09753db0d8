"""The README is the merchant's configuration reference: it must not drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from saleor_retention_plugin.conf import SETTING_FIELDS
from saleor_retention_plugin.config_variants import VARIANT_FIELDS, VARIANT_FLOWS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


VARIANT_NAMES = {field.name for field in VARIANT_FIELDS}


@pytest.mark.parametrize("field", SETTING_FIELDS, ids=lambda field: field.name)
def test_every_setting_is_documented_with_its_default(field):
    name = field.name
    if name in VARIANT_NAMES:  # one row per part for every flow, and the flow listed
        flow = next(f.flow for f in VARIANT_FLOWS if name.startswith(f"{f.flow}_variant_b_"))
        assert re.search(rf"^\| `{flow}` \|", README, re.MULTILINE), f"README lists no {flow}"
        name = "<flow>" + name.removeprefix(flow)
    row = re.search(rf"^\| `{name}`.*$", README, re.MULTILINE)

    assert row, f"README has no row for {name}"
    default = f"`{field.default}`" if field.default else "(empty)"
    assert f"| {default} |" in row.group(0)


def test_the_readme_gives_the_two_commands():
    assert "make sandbox" in README
    assert "make test" in README


MAKEFILE = (Path(__file__).resolve().parents[2] / "Makefile").read_text()


def test_every_make_target_the_readme_names_exists():
    named = set(re.findall(r"\bmake (?:-\S+ )*([a-z][a-z-]*)", README))
    defined = set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE, re.MULTILINE))

    assert named, "the README names no make target"
    assert named <= defined, f"README names make targets the Makefile lacks: {named - defined}"


def test_every_sandbox_option_the_readme_passes_exists(capsys):
    from saleor_retention_plugin.sandbox.main import main

    passed = set(re.findall(r'make sandbox ARGS="?(--[a-z-]+)', README))
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    options = set(re.findall(r"--[a-z-]+", capsys.readouterr().out))

    assert exited.value.code == 0
    assert passed
    assert passed <= options, f"README passes options the sandbox lacks: {passed - options}"


def test_every_file_the_design_section_points_at_exists():
    design = README.split("## Design", 1)[1]
    root = Path(__file__).resolve().parents[2]
    package = root / "saleor_retention_plugin"
    named = set(re.findall(r"`([a-z_/]+(?:\.py|/))`", design))

    missing = sorted(
        name for name in named if not (package / name).exists() and not (root / name).exists()
    )
    assert named, "the design section names no file"
    assert missing == []
