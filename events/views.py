"""POST /events: parsers pick the content mode, the serializer judges, `publish` relays."""

import io
from inspect import isawaitable

from django.http import HttpResponse
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from . import config
from .auth import ProducerKeyAuthentication, SourcePrefixPermission
from .cloudevent import InvalidEvent
from .openapi import EVENTS_SCHEMA
from .parsers import BatchParser, BinaryParser, CloudEventsNegotiation, StructuredParser
from .publishing import LayerUnavailable, publish
from .serializers import CloudEventSerializer


class ASCIIJSONRenderer(JSONRenderer):
    """Error bodies may quote producer input; ASCII escapes keep any string renderable."""

    ensure_ascii = True


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


class ServiceUnavailable(exceptions.APIException):
    """`publishing.LayerUnavailable` as an answer: a 503 the producer may retry."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "channel_layer_unavailable"
    wait = LayerUnavailable.retry_after  # DRF's exception handler sends this as Retry-After


class EventLoopAPIView(APIView):
    """A DRF APIView whose async handlers run on the event loop, DRF's checks included.

    DRF's `dispatch` is sync: Django would run the whole view in a worker thread. adrf's async
    dispatch goes to a thread too, for `initial()` (negotiation, authentication, permissions,
    throttles): one round trip per request. Here DRF's own `dispatch` runs on the loop up to the
    handler's coroutine, which is then awaited and finalized as DRF would. That is right only
    while `initial()` cannot block: a subclass's authentication, permission and throttle classes
    must work from memory, never from the database or a cache.
    """

    async def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        if isawaitable(response):  # else answered before any handler ran: a check failed, or a 405
            try:
                response = await response
            except Exception as exc:
                response = self.handle_exception(exc)
            self.response = self.finalize_response(self.request, response, *args, **kwargs)
        # DRF's Request and this view refer to each other through `parser_context`: unlinked, they,
        # the request's body and the response go as soon as the answer is sent, not whenever the
        # cyclic garbage collector runs (rarely, in the served process: relayman_project/asgi.py).
        self.request.parser_context.clear()
        if self.response.status_code >= 400:
            # The body tells the client what was wrong; a condition of the server (Redis down) is
            # logged where it is detected, once, not by Django's `django.request` per answer.
            self.response._has_been_logged = True
        return self.response

    def finalize_response(self, request, response, *args, **kwargs):
        if isawaitable(response):
            return response  # the handler's coroutine: `dispatch` finalizes what it returns
        return super().finalize_response(request, response, *args, **kwargs)


class EventsView(EventLoopAPIView):
    parser_classes = [StructuredParser, BatchParser, BinaryParser]
    content_negotiation_class = CloudEventsNegotiation
    renderer_classes = [ASCIIJSONRenderer]
    authentication_classes = [ProducerKeyAuthentication]
    permission_classes = [SourcePrefixPermission]
    throttle_classes = []  # none, whatever the project's defaults: `initial()` runs on the loop
    versioning_class = None
    http_method_names = ["post"]  # every other method, OPTIONS included, is a 405

    @EVENTS_SCHEMA
    async def post(self, request):
        parser = self.get_content_negotiator().select_parser(request, request.parsers)
        if parser is None:
            raise exceptions.UnsupportedMediaType(
                request.content_type or "(none)",
                detail=(
                    f"Unsupported media type {request.content_type or '(none)'!r}: send "
                    "application/cloudevents+json, application/cloudevents-batch+json, "
                    "application/json, or a binary-mode event with ce-* headers"
                ),
            )
        body = self._body(request._request)
        value = parser.parse(io.BytesIO(body), request.content_type, {"request": request})
        serializer = CloudEventSerializer(data=value, many=parser.batch)
        if not serializer.is_valid():
            # Plain errors: DRF's own refer to the serializer, which holds the whole decoded body,
            # and the answer (DRF's, which refers to this view) may wait for the cyclic collector.
            errors = serializer.errors
            raise exceptions.ValidationError(
                dict(errors) if isinstance(errors, dict) else list(errors)
            )
        events = serializer.validated_data if parser.batch else [serializer.validated_data]
        self.check_object_permissions(request, events)
        try:
            payloads = await publish(events)
        except InvalidEvent as invalid:  # keyed by index, as a batch's errors are
            errors = invalid.errors if parser.batch else invalid.errors["0"]
            raise exceptions.ValidationError(errors) from None
        except LayerUnavailable as unavailable:
            raise ServiceUnavailable(str(unavailable)) from None
        text = "[" + ",".join(payloads) + "]" if parser.batch else payloads[0]
        # Bytes: for text, Django finds the charset by a search of the Content-Type (1.6 %).
        return HttpResponse(text.encode(), status=201, content_type="application/json")

    @staticmethod
    def _body(django_request) -> bytes:
        """The body within the limit; a chunked request declares no length, so count it too.

        It is read through the request's file interface, not `request.body`, which would keep a
        copy on the request: Django's auth and messages middleware put the request in reference
        cycles, so that copy would live until the cyclic collector runs (rarely, in the served
        process: relayman_project/gc_tuning.py). The stream itself is closed, its buffer freed,
        once the answer is sent.
        """
        limit = config.get("MAX_EVENT_BYTES")
        declared = int(django_request.META.get("CONTENT_LENGTH") or 0)
        body = b"" if declared > limit else django_request.read(limit + 1)
        if declared > limit or len(body) > limit:
            size = declared if declared > limit else None
            raise PayloadTooLarge(config.too_large(limit, config.EVENT_SIZE_ORIGIN, size))
        return body
