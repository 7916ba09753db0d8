"""Settings of the real Celery workers the crash tests start and kill.

The cart worker's settings, with the claim lease the test chooses
(``RETENTION_CLAIM_LEASE_SECONDS``, ``RETENTION_CLAIM_PATIENCE_SECONDS``): short, so a
test measures the takeover in seconds.
"""

import os

from tests.integration.carts.worker_settings import *  # noqa: F403

RETENTION_CLAIM_LEASE_SECONDS = float(os.environ.get("RETENTION_CLAIM_LEASE_SECONDS", "60"))
RETENTION_CLAIM_PATIENCE_SECONDS = float(os.environ.get("RETENTION_CLAIM_PATIENCE_SECONDS", "300"))
