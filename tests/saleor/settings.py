"""Django settings for the Saleor tier: a real Saleor 3.20 with this plugin installed.

Run the tier on its own, with these settings on the command line:

    python -m pytest tests/saleor --ds=tests.saleor.settings --reuse-db

Saleor is not a dependency of this project; it is installed by hand into the
virtualenv. When it cannot be imported these settings fall back to a minimal
configuration so that Django still starts and ``tests/saleor/conftest.py`` can
skip the whole tier with a readable reason.
"""

import importlib.util
import os

PLUGIN_APP = "saleor_retention_plugin"
PLUGIN_PATH = "saleor_retention_plugin.plugin.RetentionPlugin"

# Reusable (``--reuse-db``) test database; each checkout can pick its own name.
TEST_DB_NAME = os.environ.get("RETENTION_SALEOR_TEST_DB", "test_retention_saleor")

try:
    from saleor.tests.settings import *  # noqa: F403
except Exception as exc:  # Saleor missing or broken: let conftest.py skip the tier.
    SALEOR_IMPORT_ERROR = f"{type(exc).__name__}: {exc}"
    SECRET_KEY = "saleor-tier-unavailable"
    INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
    DATABASES: dict = {}
    USE_TZ = True
else:
    SALEOR_IMPORT_ERROR = None

    # Saleor's settings add every ``saleor.plugins`` entry point's *name* to
    # INSTALLED_APPS (see EXTERNAL_PLUGINS in saleor/settings.py). Without
    # ``pip install -e .`` there is no entry point, so add the app here.
    if PLUGIN_APP not in INSTALLED_APPS and importlib.util.find_spec(PLUGIN_APP):
        INSTALLED_APPS.append(PLUGIN_APP)

    # Same two aliases as Saleor's own test run: "replica" mirrors "default" in
    # tests, and conftest.py turns it into a view of the writer connection
    # (saleor.tests.utils.prepare_test_db_connections).
    _db = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "postgres",
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": "127.0.0.1",
        "PORT": 5432,
        "CONN_MAX_AGE": 0,
    }
    DATABASES = {
        DATABASE_CONNECTION_DEFAULT_NAME: {  # noqa: F405
            **_db,
            "TEST": {"NAME": TEST_DB_NAME},
        },
        DATABASE_CONNECTION_REPLICA_NAME: {  # noqa: F405
            **_db,
            "TEST": {"NAME": TEST_DB_NAME, "MIRROR": DATABASE_CONNECTION_DEFAULT_NAME},  # noqa: F405
        },
    }

    # As in Saleor's test settings: tasks run in-process (eager), and task
    # exceptions are NOT propagated (CELERY_TASK_EAGER_PROPAGATES stays unset).
    CELERY_TASK_ALWAYS_EAGER = True
    # Our own tasks' errors must fail our tests instead of vanishing in eager mode.
    CELERY_TASK_EAGER_PROPAGATES = True
