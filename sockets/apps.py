from django.apps import AppConfig


class SocketsConfig(AppConfig):
    name = "sockets"
    # Namespaced so a host project's own "sockets" app does not collide with ours.
    label = "relayman_sockets"
    verbose_name = "Relayman sockets"
