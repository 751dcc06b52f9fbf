"""DRF parsers, one per CloudEvents content mode, and the negotiation that picks between them.

DRF matches parsers by media type alone; the HTTP binding also looks at `ce-*` headers, so
`CloudEventsNegotiation` asks `content_modes.mode_for` instead. Every answer is JSON, so it does
not read the Accept header either.
"""

from rest_framework import exceptions, serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser

from . import content_modes
from .serializers import judge


class _JSONEventsParser(BaseParser):
    levels = ("event",)  # what the document is: see NumberOutOfRange.errors

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return content_modes.decode_json(stream.read())
        except content_modes.NumberOutOfRange as exc:
            # Keyed by the attribute holding the number (and the index in a batch), as the
            # rules key theirs.
            raise serializers.ValidationError(exc.errors(*self.levels)) from None
        except content_modes.MalformedBody as exc:
            raise exceptions.ParseError(str(exc)) from None


class StructuredParser(_JSONEventsParser):
    """Structured mode: the body is one event (application/cloudevents+json or plain JSON)."""

    media_type = "application/cloudevents+json"
    mode = content_modes.STRUCTURED
    batch = False


class BatchParser(_JSONEventsParser):
    """Batched mode: the body is a JSON array of events."""

    media_type = "application/cloudevents-batch+json"
    mode = content_modes.BATCH
    batch = True
    levels = ("batch", "event")


class BinaryParser(BaseParser):
    """Binary mode: attributes in `ce-*` headers, the body is the event's data."""

    media_type = "*/*"
    mode = content_modes.BINARY
    batch = False

    def parse(self, stream, media_type=None, parser_context=None):
        request = parser_context["request"]
        headers = {name.lower(): value for name, value in request.headers.items()}
        body = stream.read()
        return judge(content_modes.binary_event, headers, request.content_type or "", body)


class CloudEventsNegotiation(DefaultContentNegotiation):
    def select_parser(self, request, parsers):
        mode = content_modes.mode_of_environ(request.META)
        return next((p for p in parsers if getattr(p, "mode", None) == mode), None)

    def select_renderer(self, request, renderers, format_suffix=None):
        # The view's one renderer, whatever the client accepts: a producer's Accept header never
        # costs it its event (no 406), and parsing it cost a fifth of DRF's work per request.
        renderer = renderers[0]
        return renderer, renderer.media_type
