"""daphne's HTTP connections with deadlines, a connection cap and bodies refused before reading.

Stock, Twisted keeps a connection as long as one byte a minute arrives, reads a whole request
body (to a temporary file past 100 kB) before daphne hands the request on, and accepts
connections until the process runs out of file descriptors. Here:

- a request's headers must arrive within RELAYMAN_HEADER_TIMEOUT seconds of the connection (or of
  the previous answer, on a keep-alive connection), and its body within RELAYMAN_BODY_TIMEOUT of
  its headers; a client too slow is answered 408 and closed (one that sent nothing is just
  closed). Once a request is complete the deadlines stop: answering is the application's time,
  and an upgraded WebSocket has its own idle rules;
- the request's head is judged as soon as it is in (`server_requests`): a missing producer key or
  a declared body over the limit is answered there, and a streamed body is cut at the limit;
- connections past the cap are answered 503 (`server_connections`);
- the errors Twisted and daphne answer by themselves (a malformed or oversized head, a bad
  header, a crashed application) are JSON like every other answer, not a bare 400 or HTML.

The hooks are Twisted's parser methods (locked to the tested version: `server_internals`).
"""

import io
import json
from dataclasses import dataclass

from daphne.http_protocol import HTTPFactory, WebRequest
from twisted.web import http

from events.episodes import Episode

from . import server_answers
from .server_connections import Connections
from .server_requests import RequestRules


@dataclass
class Edge:
    """What every HTTP connection of one server shares: its deadlines, rules and counts."""

    header_timeout: float
    body_timeout: float
    rules: RequestRules
    connections: Connections
    slow: Episode  # clients cut for slowness


class EdgeHTTPFactory(HTTPFactory):
    """daphne's HTTP factory, building `EdgeChannel`s, or a refusal past the connection cap."""

    def __init__(self, server, edge: Edge):
        super().__init__(server)
        self.edge = edge
        self.timeOut = None  # Twisted's idle timeout (60 s, reset by any byte): the deadlines rule

    def protocol(self):
        # Twisted's wrapper, as its own factory builds: it would switch to HTTP/2 on TLS (ALPN),
        # which `acceptableProtocols` no longer offers.
        return http._GenericHTTPChannelProtocol(EdgeChannel())

    def buildProtocol(self, addr):
        if not self.edge.connections.admit():
            return self.edge.connections.refuse()
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = EdgeRequest
        return protocol

    def acceptableProtocols(self):
        return [b"http/1.1"]  # deadlines and limits are HTTP/1.1's here; WebSockets need it too

    def log(self, request):
        """Twisted's own access line, in the combined log format, for Twisted's log: which daphne
        sends nowhere below verbosity 2. Formatted for nothing, it cost 3 % of a POST /events;
        daphne's access log (`relayman.access`) is another, and is unchanged."""
        if self.server.verbosity > 1:
            super().log(request)


class EdgeChannel(http.HTTPChannel):
    """One HTTP/1.1 connection, with deadlines and early refusals."""

    closing = False  # answered by the server itself: whatever arrives now is thrown away
    _deadline = None  # the pending call that cuts a slow client
    _begun = False  # bytes of the next request have arrived

    @property
    def edge(self) -> Edge:
        return self.factory.edge

    def connectionMade(self):
        super().connectionMade()
        self._expect("headers", self.edge.header_timeout)

    def dataReceived(self, data):
        if self.closing:
            return
        self._begun = True
        super().dataReceived(data)

    def lineReceived(self, line):
        if not self.closing:  # the rest of a buffer whose request was just refused
            super().lineReceived(line)

    def rawDataReceived(self, data):
        if not self.closing:
            super().rawDataReceived(data)

    def lineLengthExceeded(self, line):
        self._respondToBadRequestAndDisconnect()  # Twisted just closes, without a word

    def allHeadersReceived(self):
        request = self.requests[-1]
        request.verdict = self.edge.rules.judge(self._path, request.requestHeaders, self.length)
        if request.verdict.refusal:
            request.verdict.count_refusal()
            self.refuse(request.verdict.refusal)
            return  # nor `Expect: 100-continue` answered, nor the body read
        super().allHeadersReceived()
        self._expect("body", self.edge.body_timeout)

    def allContentReceived(self):
        if self.closing:
            return  # the rest of a streamed body cut at the limit: the application never sees it
        self._stop_expecting()
        super().allContentReceived()

    def requestDone(self, request):
        self._begun = False
        # Before Twisted's own: it may go on at once with a pipelined request already read.
        self._expect("headers", self.edge.header_timeout)
        super().requestDone(request)

    def connectionLost(self, reason):
        self._stop_expecting()
        super().connectionLost(reason)
        self.edge.connections.release()

    def refuse(self, answer: bytes) -> None:
        """Answer with `answer` (or nothing) and close; nothing more is read into memory."""
        if self.closing:
            return
        self.closing = True
        self._stop_expecting()
        server_answers.send_and_close(self.transport, answer, self.callLater)

    def _respondToBadRequestAndDisconnect(self):
        self.refuse(
            server_answers.response(
                400,
                "The request is not valid HTTP/1.1: a malformed request line, header or chunked "
                f"body, or a head of more than {self.totalHeadersSize} bytes or "
                f"{self.maxHeaders} headers.",
            )
        )

    def _expect(self, part: str, seconds: float) -> None:
        self._stop_expecting()
        self._deadline = self.callLater(seconds, self._too_slow, part, seconds)

    def _stop_expecting(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _too_slow(self, part: str, seconds: float) -> None:
        self._deadline = None
        if part == "headers" and not self._begun:
            self.refuse(b"")  # an idle connection: there is no request to answer
            return
        setting = "RELAYMAN_HEADER_TIMEOUT" if part == "headers" else "RELAYMAN_BODY_TIMEOUT"
        since = "" if part == "headers" else " of its headers"
        self.edge.slow.occurred(part=part, limit_seconds=seconds)
        if part == "body":
            self.requests[-1].verdict.count_refusal(408)
        self.refuse(
            server_answers.response(
                408,
                f"The request's {part} did not arrive within {seconds:g} seconds{since} "
                f"({setting}).",
            )
        )


class EdgeRequest(WebRequest):
    """daphne's request, its body held to the limit its head was judged against."""

    verdict = None  # a server_requests.Verdict, set when the head is judged
    _received = 0

    def __init__(self, *args, **kwargs):
        # Twisted would parse every POST's Content-Type (with the email package: 7 % of POST
        # /events' CPU) to decode a form into `args`, which daphne never reads.
        super().__init__(*args, parsePOSTFormSubmission=False, **kwargs)

    def basic_error(self, status, status_text, body):
        """daphne's own error answers, in JSON like the application's."""
        detail = json.dumps({"detail": body}, separators=(",", ":")).encode()
        headers = [(b"Content-Type", b"application/json"), (b"Content-Length", b"%d" % len(detail))]
        self.handle_reply({"type": "http.response.start", "status": status, "headers": headers})
        self.handle_reply({"type": "http.response.body", "body": detail})

    def gotLength(self, length):
        self.content = io.BytesIO()  # held to the body limit: no temporary file needed

    def handleContentChunk(self, data):
        channel = self.channel
        if channel.closing:
            return
        self._received += len(data)
        if self._received > self.verdict.limit.size:
            self.verdict.count_refusal(413)
            channel.refuse(self.verdict.limit.refusal())
            return
        self.content.write(data)
