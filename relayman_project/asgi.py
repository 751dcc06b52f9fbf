"""ASGI entry point: HTTP goes to Django, WebSockets under /socket/ to Relayman's sockets.

A WebSocket to any other path is refused (`events.errors.SocketRouteNotFound`), where Channels'
router would raise: a 500 and a traceback per request.

daphne runs no system checks: Relayman's own (RELAYMAN_ settings that make no sense) run here, so
no server starts with them, however it is started.
"""

import os

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import re_path

from events.request_handler import get_asgi_application
from relayman_project import gc_tuning

gc_tuning.tune()

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relayman_project.settings")
django_asgi_app = get_asgi_application()
if problems := checks.run_checks(tags=["relayman"]):
    raise ImproperlyConfigured("; ".join(problem.msg for problem in problems))

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from prometheus_client import ProcessCollector  # noqa: E402

from events import metrics  # noqa: E402
from events.errors import SocketRouteNotFound  # noqa: E402
from sockets.routing import websocket_urlpatterns  # noqa: E402

# The standalone server's /metrics also says what the process uses: CPU, memory, descriptors.
ProcessCollector(registry=metrics.REGISTRY)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([*websocket_urlpatterns, re_path("", SocketRouteNotFound())]),
    }
)
