"""What the server answers by itself to requests that are not valid HTTP: JSON, never a traceback.

Twisted answers a malformed head with a bare "400 Bad Request" and no body, or just closes the
connection (a line over 16 KiB); daphne answers a bad header value or path with an HTML page.
"""

import json
import socket

import pytest

from tests.support.server import Server

NOT_HTTP = {
    "detail": "The request is not valid HTTP/1.1: a malformed request line, header or chunked "
    "body, or a head of more than 16384 bytes or 500 headers."
}


@pytest.fixture(scope="module")
def relay():
    with Server() as running:
        yield running


def ask(server: Server, raw: bytes) -> tuple[str, dict, dict]:
    """Send `raw`; the status line, headers and JSON body of the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(raw)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    return status, dict(line.split(": ", 1) for line in lines), json.loads(body)


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /heal\xffthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\nHost: localhost\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + b"X-A: b\r\n" * 600 + b"\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nBad Name: x\r\n\r\n",
        b"POST /events HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["path-byte", "version", "long-line", "600-headers", "header-name", "chunk-size"],
)
def test_a_request_that_is_not_http_gets_a_json_400(relay, raw):
    status, headers, body = ask(relay, raw)

    assert status == "HTTP/1.1 400 Bad Request"
    assert headers["Content-Type"] == "application/json"
    assert body == NOT_HTTP
    assert "Traceback" not in relay.logs()


def test_daphnes_own_errors_are_json(relay):
    status, headers, body = ask(relay, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x0bb\r\n\r\n")

    assert status == "HTTP/1.1 400 Bad Request"
    assert headers["Content-Type"] == "application/json"
    assert body == {"detail": "Invalid header value"}
