"""Saleor finds the plugin through the ``saleor.plugins`` entry point of the installed package.

The Saleor test settings add the app by hand when it is missing, so only this test notices a
broken or renamed entry point.
"""

from __future__ import annotations

import importlib.metadata

import pytest

DISTRIBUTION = "saleor-retention-plugin"


def test_the_package_declares_exactly_one_saleor_plugin_entry_point():
    try:
        importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(
            f"{DISTRIBUTION} is not installed (pip install -e .), so it has no entry points"
        )

    ours = [
        entry
        for entry in importlib.metadata.entry_points(group="saleor.plugins")
        if entry.name == "saleor_retention_plugin"
    ]

    assert len(ours) == 1, ours
    (entry,) = ours
    assert entry.value == "saleor_retention_plugin.plugin:RetentionPlugin"
    assert entry.dist is not None
    assert entry.dist.name == DISTRIBUTION
