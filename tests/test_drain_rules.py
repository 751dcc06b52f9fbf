"""The drain's decisions, in-process: what a socket is sent when its server goes away, and how
its sockets are spread over the drain time."""

import json

import pytest
from autobahn.websocket.protocol import WebSocketProtocol as AutobahnProtocol

from sockets.daphne_protocol import WebSocketProtocol
from sockets.drain import BATCH_INTERVAL, batch_size, rounds
from sockets.serializers import V1Serializer, V2Serializer
from sockets.session import RESTARTING, Close, CloseCode, Send, Session

NOW = 1000.0


def joined(session: Session, *topics: str) -> None:
    for ref, topic in enumerate(topics, 1):
        session.joined[topic.removeprefix("source:")] = str(ref)


def test_a_drained_socket_gets_a_phx_error_per_channel_then_1012():
    session = Session(V2Serializer, NOW)
    joined(session, "source:/a", "source:/b")

    actions = session.drain()

    restarting = {"reason": RESTARTING}
    assert [json.loads(a.frame) for a in actions if isinstance(a, Send)] == [
        ["1", "1", "source:/a", "phx_error", restarting],
        ["2", "2", "source:/b", "phx_error", restarting],
        [None, None, "phoenix", "phx_error", restarting],
    ]
    assert actions[-1] == Close(CloseCode.SERVICE_RESTART, RESTARTING)
    assert CloseCode.SERVICE_RESTART == 1012


def test_a_v1_socket_gets_its_errors_as_v1_objects():
    session = Session(V1Serializer, NOW)
    joined(session, "source:/a")

    first = json.loads(session.drain()[0].frame)

    assert first == {
        "join_ref": "1",
        "ref": "1",
        "topic": "source:/a",
        "event": "phx_error",
        "payload": {"reason": RESTARTING},
    }


def test_a_socket_without_channels_is_told_why_and_closed():
    assert Session(V2Serializer, NOW).drain()[-1].code == CloseCode.SERVICE_RESTART


def test_a_socket_already_closing_is_drained_once():
    session = Session(V2Serializer, NOW)
    assert session.drain()
    assert session.drain() == []
    assert session.push("/a", "created", "{}") is None


@pytest.mark.parametrize(("seconds", "expected"), [(0, 1), (1, 2), (10, 20), (3600, 7200)])
def test_a_drain_closes_a_batch_every_interval(seconds, expected):
    assert BATCH_INTERVAL == 0.5
    assert rounds(seconds) == expected


def test_batches_spread_the_sockets_evenly_over_the_rounds_left():
    waiting, sizes = 1001, []
    for left in range(20, 0, -1):
        sizes.append(batch_size(waiting, left))
        waiting -= sizes[-1]
    assert waiting == 0 and max(sizes) - min(sizes) <= 1
    assert batch_size(3, 20) == 1  # a few sockets close one per batch, the drain ends early


@pytest.mark.parametrize(("known", "sent"), [(True, 1012), (False, 4012)])
def test_daphnes_protocol_sends_1012_which_autobahn_refuses_an_application(
    monkeypatch, known, sent
):
    """autobahn's sendClose takes 1000 and 3000-4999 only; with other versions, the 4xxx twin."""
    protocol = WebSocketProtocol()
    protocol.state = protocol.STATE_OPEN
    protocol.internals_known, protocol.failedByMe = known, False
    frames = []
    monkeypatch.setattr(
        AutobahnProtocol,
        "sendCloseFrame",
        lambda self, code, reasonUtf8=None, isReply=False: frames.append((code, isReply)),
    )
    protocol.serverClose(code=int(CloseCode.SERVICE_RESTART))
    assert frames == [(sent, False)]
