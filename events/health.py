"""Liveness for load balancers and container health checks."""

from django.http import JsonResponse
from django.views.decorators.http import require_safe


@require_safe
async def healthz(request):
    return JsonResponse({"status": 200, "message": "OK"})
