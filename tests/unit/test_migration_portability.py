"""Migrations load on every Django the plugin supports (4.2 in Saleor 3.20, 5.2 in 3.23).

``makemigrations`` on Django 5.1+ writes ``CheckConstraint(condition=...)``, which Django
4.2 refuses (``check=`` there); 6.0 drops ``check=``. Migrations build check constraints
through ``models.constraints.check_constraint`` instead, which picks the keyword.
"""

from __future__ import annotations

import re
from pathlib import Path

import saleor_retention_plugin

MIGRATIONS = Path(saleor_retention_plugin.__file__).parent / "migrations"


def test_no_migration_builds_a_check_constraint_with_one_djangos_keyword():
    offenders = [
        path.name
        for path in sorted(MIGRATIONS.glob("0*.py"))
        if re.search(r"CheckConstraint\(\s*(check|condition)=", path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
