"""Relayman's settings with the OpenAPI schema's apps and settings, as settings.py will have them.

Served by tests/test_openapi.py until relayman_project/settings.py lists them itself.
"""

from events.openapi_settings import SPECTACULAR_SETTINGS  # noqa: F401
from relayman_project.settings import *  # noqa: F403
from relayman_project.settings import INSTALLED_APPS, REST_FRAMEWORK

SCHEMA_APPS = ["drf_spectacular", "drf_spectacular_sidecar"]
INSTALLED_APPS = [*INSTALLED_APPS, *(app for app in SCHEMA_APPS if app not in INSTALLED_APPS)]
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
