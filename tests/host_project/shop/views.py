"""The host's views: one saves an order (its signal publishes), one counts them from async code
(Django's async ORM), two publish directly."""

import json

from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

import events

from .models import Order


class Rejected(Exception):
    pass


@csrf_exempt
@require_POST
def create_order(request):
    """Saves an order in a transaction; with "reject" the transaction rolls back after saving."""
    body = json.loads(request.body)
    try:
        with transaction.atomic():
            order = Order.objects.create(item=body["item"])
            if body.get("reject"):
                raise Rejected
    except Rejected:
        return JsonResponse({"detail": "rejected: rolled back"}, status=409)
    return JsonResponse({"id": order.pk}, status=201)


async def count_orders(request):
    """The number of orders, through Django's async ORM (a thread of the request's, underneath)."""
    return JsonResponse({"orders": await Order.objects.acount()})


@csrf_exempt
@require_POST
async def announce(request):
    """Publishes the posted attributes from async code."""
    try:
        event = await events.apublish(json.loads(request.body))
    except events.InvalidEvent as invalid:
        return JsonResponse(invalid.errors, status=400)
    return JsonResponse(event, status=201)


@csrf_exempt
@require_POST
def announce_sync(request):
    """Publishes the posted attributes from sync code."""
    try:
        event = events.publish(**json.loads(request.body))
    except events.InvalidEvent as invalid:
        return JsonResponse(invalid.errors, status=400)
    return JsonResponse(event, status=201)
