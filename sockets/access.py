"""A socket's part in private sources: its own subscriber token, and one timer for its channels.

phoenix.js passes a socket token two ways: as the query parameter `token` (`params`), or, from
1.8, as the subprotocol `base64url.bearer.phx.<token>` (`authToken`), which it encodes with
plain `btoa`: standard base64 without padding, so both alphabets are read here. Tokens are
verified by `events.private_sources`; this module only finds them, and never logs them.
"""

import asyncio
import binascii
import re
import time
from base64 import b64decode
from urllib.parse import parse_qs

from events import private_sources
from events.subscriber_tokens import Grant, TokenRefused

AUTH_TOKEN_PREFIX = "base64url.bearer.phx."
_TOKEN_PARAMETER = re.compile(r"(^|&)token=[^&]*")


def socket_token(query_string: bytes, subprotocols: list[str]) -> str | None:
    """The token a client gave at the handshake (its `token` parameter wins), or None."""
    if b"token=" in query_string:
        values = parse_qs(query_string.decode("latin-1")).get("token")
        if values:
            return values[-1]
    for protocol in subprotocols:
        if protocol.startswith(AUTH_TOKEN_PREFIX):
            encoded = protocol[len(AUTH_TOKEN_PREFIX) :].translate(_URL_SAFE)
            try:
                decoded = b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
            except (binascii.Error, ValueError):
                raise TokenRefused("the authToken subprotocol is not base64") from None
            return decoded.decode("latin-1")
    return None


_URL_SAFE = str.maketrans("-_", "+/")


def without_token(query: str) -> str:
    """A query string fit for a log line: its token, if any, left out."""
    return _TOKEN_PARAMETER.sub(r"\1token=(hidden)", query)


class Access:
    """The grant of the socket's own token (None without one) and the timer that wakes the
    socket at its channels' next token expiry."""

    __slots__ = ("grant", "_timer", "_task")

    def __init__(self, grant: Grant | None):
        self.grant = grant
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Future | None = None

    @classmethod
    def of(cls, scope) -> "Access":
        """The access of a new socket; `TokenRefused` when it presents a bad token, which
        refuses the handshake. With no private sources in force, tokens are not looked at."""
        if not private_sources.prefixes():
            return cls(None)
        token = socket_token(scope["query_string"], scope.get("subprotocols") or [])
        return cls(None if token is None else private_sources.verify_socket_token(token))

    @staticmethod
    def deadline(expires: float, loop: asyncio.AbstractEventLoop) -> float:
        """An expiry in epoch seconds (`exp`) as a time of the loop's clock."""
        return loop.time() + (expires - time.time())

    def watch(self, when: float | None, loop: asyncio.AbstractEventLoop, wake) -> None:
        """One timer at a time, at `when` (None: none); `wake()` returns the handling's future."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if when is not None:
            self._timer = loop.call_at(when, self._fire, wake)

    def _fire(self, wake) -> None:
        self._timer = None
        self._task = wake()

    def cancel(self) -> None:
        """The socket is gone: no more wake-ups."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None
