"""`/metrics` (`events.metrics_endpoint`), kept apart from `events.urls` so that a host project
chooses where it goes, or whether it goes at all: `path("relay/", include("events.metrics_urls"))`
serves it at /relay/metrics."""

from django.urls import path

from .metrics_endpoint import metrics

urlpatterns = [path("metrics", metrics, name="relayman-metrics")]
