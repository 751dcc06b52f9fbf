"""Relayman's HTTP endpoints; include them under any prefix."""

from django.urls import path

from .health import healthz, readyz
from .metrics import observed
from .views import EventsView

urlpatterns = [
    path("events", observed(EventsView.as_view()), name="relayman-events"),
    path("healthz", healthz, name="relayman-healthz"),
    path("readyz", readyz, name="relayman-readyz"),
]
