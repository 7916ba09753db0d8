"""The models and the committed migrations must describe the same schema.

The project's one drift test (`make lint` and the pre-commit hook run the same check
without a database server).
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_models_and_migrations_do_not_drift():
    output = StringIO()
    try:
        call_command(
            "makemigrations",
            "saleor_retention_plugin",
            "--check",
            "--dry-run",
            stdout=output,
            stderr=output,
        )
    except SystemExit:
        pytest.fail(
            "Models changed without a migration; run `python -m django makemigrations "
            "saleor_retention_plugin --name <what_changed> --settings tests.settings` "
            "with the virtualenv's python, from the checkout:\n" + output.getvalue()
        )
