"""The standalone server's routes: the admin, Relayman's at the root, /metrics, the OpenAPI schema.

`/api/schema` is the OpenAPI schema of Relayman's routes (YAML; JSON with `?format=json` or
`Accept: application/json`), `/api/docs` a Swagger UI page over it whose assets come from
drf-spectacular-sidecar through WhiteNoise, never from a CDN. Every error is JSON.
"""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("", include("events.urls")),  # first: POST /events is resolved on every request
    path("admin/", admin.site.urls),
    path("api/schema", SpectacularAPIView.as_view(), name="relayman-schema"),
    path(
        "api/docs", SpectacularSwaggerView.as_view(url_name="relayman-schema"), name="relayman-docs"
    ),
    path("", include("events.metrics_urls")),  # /metrics
]

handler400 = "events.errors.bad_request"
handler403 = "events.errors.permission_denied"
handler404 = "events.errors.page_not_found"
handler500 = "events.errors.server_error"
