import pytest

import tests.celery_app  # noqa: F401  (binds shared tasks to the test app)
