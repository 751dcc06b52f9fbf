"""The host's ASGI entry point: its HTTP as before, plus Relayman's socket under /relay/."""

import os

from events.request_handler import get_asgi_application  # Relayman: no thread per async request

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.host_project.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from events.errors import SocketRouteNotFound  # noqa: E402
from sockets.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # phoenix.js: new Socket("wss://<host>/relay/socket") connects to /relay/socket/websocket
        # Relayman: the auth stack gives its join authorizer scope["user"] (settings.py)
        "websocket": AuthMiddlewareStack(
            URLRouter(
                [
                    path("relay/", URLRouter(websocket_urlpatterns)),
                    re_path("", SocketRouteNotFound()),  # any other path: refused, not a 500
                ]
            )
        ),
    }
)
