"""One way to declare a check constraint on every Django version the plugin supports.

Django 5.1 renamed ``CheckConstraint(check=...)`` to ``condition=`` and Django 6.0 drops
``check=``; Saleor 3.20 runs Django 4.2, which knows only ``check=``. Models and migrations
build their check constraints here, so the database gets the same constraint on both and
neither warns.
"""

from __future__ import annotations

from typing import Any

import django
from django.db import models

_CONDITION_KEYWORD = "condition" if django.VERSION >= (5, 1) else "check"


def check_constraint(*, condition: models.Q, name: str) -> models.CheckConstraint:
    """A ``CheckConstraint`` named ``name`` that holds when ``condition`` (a ``Q``) holds."""
    arguments: dict[str, Any] = {_CONDITION_KEYWORD: condition, "name": name}
    return models.CheckConstraint(**arguments)
