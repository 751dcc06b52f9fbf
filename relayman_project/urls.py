"""The standalone server's routes: the admin, and Relayman's at the root; every error is JSON."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("events.urls")),
]

handler400 = "events.errors.bad_request"
handler403 = "events.errors.permission_denied"
handler404 = "events.errors.page_not_found"
handler500 = "events.errors.server_error"
