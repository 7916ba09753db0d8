"""The reliability suite (issue 12): duplicates, concurrency, crashes and security.

Everything the integration tier offers (real PostgreSQL, fixtures) plus the ``heavy``
marker for the tests that start real Celery workers and servers of their own and take
minutes: ``make reliability`` runs them all, ``-m "not heavy"`` the quick part.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.integration.conftest import *  # noqa: F403  (factories and API fixtures)

if TYPE_CHECKING:
    import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "heavy: starts real workers or servers of its own; minutes (make reliability)"
    )
