"""Django's own per-request floor: an async view that does nothing, in the same project.

Served only by the benchmark (settings `bench.settings`), never by the product's URLconf.
"""

from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
async def bare(request):
    return HttpResponse(b"{}", status=201, content_type="application/json")


urlpatterns = [
    path("bare", bare),
    path("", include("relayman_project.urls")),
]
