"""Migrate a database and put ``count`` due reminders in it, in a process of its own.

``python -m tests.reliability.seed_reminders COUNT`` with ``DATABASE_URL`` and the
channel configuration in ``RETENTION_TEST_CHANNEL_CONFIGURATION`` (the crash tests run
it against the test database or a PostgreSQL of their own).
"""

import json
import os
import sys

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.reliability.worker_settings")
    django.setup()
    from django.core.management import call_command

    from tests.integration.carts.cart_shop import CONFIGURATION_ENV
    from tests.reliability.workers import make_due_reminders

    call_command("migrate", verbosity=0)
    make_due_reminders(int(sys.argv[1]), json.loads(os.environ[CONFIGURATION_ENV]))


if __name__ == "__main__":
    main()
