"""Liveness and readiness for load balancers, orchestrators and container health checks.

`/healthz` (liveness) answers 200 while the process serves at all, so nobody restarts a node
merely because Redis is away; `/readyz` (readiness) answers 503 while events cannot be published,
so a load balancer can send producers elsewhere until Redis is back, and from the moment the
server begins to drain (`start_draining`: the standalone server on SIGTERM) until it exits, so
that new clients go to another node while this one closes its sockets.
"""

import functools

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .publishing import can_publish

SAFE = ("GET", "HEAD")

DRAINING = "The server is shutting down (draining its sockets): connect to another node"
_draining = False


def start_draining() -> None:
    """From now on this process is going away: /readyz says so (and stays 503)."""
    global _draining
    _draining = True


def draining() -> bool:
    return _draining


def probe(view):
    """GET and HEAD only: any other method is a JSON 405 (before any CSRF check, which would be a
    403 for a POST), and, like every client error a probe's caller may repeat, logs no line."""

    @csrf_exempt
    @functools.wraps(view)
    async def only_safe(request):
        if request.method in SAFE:
            return await view(request)
        response = JsonResponse(
            {"detail": f"Method {request.method} not allowed: {request.path} answers GET and HEAD"},
            status=405,
        )
        response["Allow"] = ", ".join(SAFE)
        response._has_been_logged = True
        return response

    return only_safe


@probe
async def healthz(request):
    return JsonResponse({"status": 200, "message": "OK"})


@probe
async def readyz(request):
    if _draining:
        body = {"status": 503, "message": DRAINING, "draining": True}
    elif await can_publish():
        return JsonResponse({"status": 200, "message": "OK"})
    else:
        body = {"status": 503, "message": "Redis is unreachable: events cannot be published"}
    response = JsonResponse(body, status=503)
    # Probes poll this: an outage or a drain is logged once where it begins, not per probe.
    response._has_been_logged = True
    return response
