from django.contrib import admin
from django.urls import include, path

from tests.host_project.shop import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("relay/", include("events.urls")),  # Relayman, under any prefix: POST /relay/events
    path("relay/", include("events.metrics_urls")),  # GET /relay/metrics
    path("orders", views.create_order),
    path("orders/count", views.count_orders),
    path("announce", views.announce),
    path("announce-sync", views.announce_sync),
]

# Relayman: errors under /relay/ answer JSON; the host's own pages keep Django's.
handler400 = "events.errors.bad_request"
handler403 = "events.errors.permission_denied"
handler404 = "events.errors.page_not_found"
handler500 = "events.errors.server_error"
