"""Stepping the plugin's migrations in a test: to a named state and back to the latest.

For the data migration tests (``test_kept_totals_migration``, the cart migrations): they
need a transactional database, as migrations run their own transactions.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

if TYPE_CHECKING:
    from collections.abc import Iterator

APP = "saleor_retention_plugin"


def migrate(targets: list[tuple[str, str]]) -> Any:
    """Migrate to ``targets``; returns the historical apps registry at that state."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@contextmanager
def migrated_to(targets: list[tuple[str, str]]) -> Iterator[Any]:
    """The historical apps at ``targets``; every migration is applied again afterwards."""
    apps = migrate(targets)
    try:
        yield apps
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes(APP))
