"""WebSocket routes: phoenix.js appends `/websocket` to the socket URL it is given."""

from django.urls import path

from .consumer import PhoenixSocket

websocket_urlpatterns = [
    path("socket/websocket", PhoenixSocket.as_asgi()),
]
