from django.apps import AppConfig

from events import metrics

from .metrics import SocketsCollector


class SocketsConfig(AppConfig):
    name = "sockets"
    # Namespaced so a host project's own "sockets" app does not collide with ours.
    label = "relayman_sockets"
    verbose_name = "Relayman sockets"

    def ready(self):
        metrics.register(SocketsCollector())  # the sockets' counts, in Relayman's /metrics
