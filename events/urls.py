"""Relayman's HTTP endpoints; include them under any prefix."""

from django.urls import path

from .health import healthz, readyz
from .views import post_events

urlpatterns = [
    path("events", post_events, name="relayman-events"),
    path("healthz", healthz, name="relayman-healthz"),
    path("readyz", readyz, name="relayman-readyz"),
]
