"""Liveness and readiness for load balancers, orchestrators and container health checks.

`/healthz` (liveness) answers 200 while the process serves at all, so nobody restarts a node
merely because Redis is away; `/readyz` (readiness) answers 503 while events cannot be published,
so a load balancer can send producers elsewhere until Redis is back.
"""

from django.http import JsonResponse
from django.views.decorators.http import require_safe

from .publishing import can_publish


@require_safe
async def healthz(request):
    return JsonResponse({"status": 200, "message": "OK"})


@require_safe
async def readyz(request):
    if await can_publish():
        return JsonResponse({"status": 200, "message": "OK"})
    response = JsonResponse(
        {"status": 503, "message": "Redis is unreachable: events cannot be published"},
        status=503,
    )
    # Probes poll this: the outage is logged once where it is detected, not per probe.
    response._has_been_logged = True
    return response
