
import tests.celery_app  # noqa: F401  (binds shared tasks to the test app)
from tests.integration.graphql_fixtures import *  # noqa: F403  (loyalty API fixtures)
from tests.integration.membership_factories import *  # noqa: F403  (membership and mall fixtures)
