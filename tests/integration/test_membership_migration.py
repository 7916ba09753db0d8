"""The membership and points-mall models and their migration never drift apart."""

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = StringIO()
    try:
        call_command(
            "makemigrations", "saleor_retention_plugin", "--check", "--dry-run", stdout=out
        )
    except SystemExit:  # pragma: no cover - the failure message is the useful part
        pytest.fail(f"Models changed without a migration:\n{out.getvalue()}")
