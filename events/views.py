"""POST /events: parsers pick the content mode, the serializer judges, `publish` relays."""

import io

from adrf.views import APIView
from django.http import HttpResponse
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer

from . import config
from .auth import ProducerKeyAuthentication, SourcePrefixPermission
from .parsers import BatchParser, BinaryParser, CloudEventsNegotiation, StructuredParser
from .publishing import publish
from .serializers import CloudEventSerializer


class ASCIIJSONRenderer(JSONRenderer):
    """Error bodies may quote producer input; ASCII escapes keep any string renderable."""

    ensure_ascii = True


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


class EventsView(APIView):
    parser_classes = [StructuredParser, BatchParser, BinaryParser]
    content_negotiation_class = CloudEventsNegotiation
    renderer_classes = [ASCIIJSONRenderer]
    authentication_classes = [ProducerKeyAuthentication]
    permission_classes = [SourcePrefixPermission]
    http_method_names = ["post"]  # every other method, OPTIONS included, is a 405

    async def post(self, request):
        parser = self.get_content_negotiator().select_parser(request, self.get_parsers())
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
        serializer.is_valid(raise_exception=True)
        events = serializer.validated_data if parser.batch else [serializer.validated_data]
        self.check_object_permissions(request, events)
        payloads = await publish(events)
        text = "[" + ",".join(payloads) + "]" if parser.batch else payloads[0]
        return HttpResponse(text, status=201, content_type="application/json")

    @staticmethod
    def _body(django_request) -> bytes:
        """The body within the limit; a chunked request declares no length, so count it too."""
        limit = config.get("MAX_EVENT_BYTES")
        declared = int(django_request.META.get("CONTENT_LENGTH") or 0)
        body = b"" if declared > limit else django_request.body
        size = max(declared, len(body))
        if size > limit:
            raise PayloadTooLarge(
                f"The body is {size} bytes; the limit is {limit} bytes (RELAYMAN_MAX_EVENT_BYTES, "
                "or 'maximum event size' in the admin's relay settings)"
            )
        return body
