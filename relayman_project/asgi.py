"""ASGI entry point: HTTP goes to Django, WebSockets under /socket/ to Relayman's sockets."""

import gc
import os

from django.core.asgi import get_asgi_application

# A server holds thousands of long-lived sockets, and one broadcast wakes them all, leaving that
# many short-lived objects in flight at once. At CPython's default thresholds (a collection every
# 700 allocations) they outlive young collections, get promoted, and set off full collections
# over every socket: a third of the CPU per delivery at 5,000 sockets (`make bench`).
gc.set_threshold(50_000, 20, 10)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relayman_project.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from sockets.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
