"""End to end against a real daphne: what the WebSocket handshake accepts and refuses."""

import pytest
from websockets.exceptions import InvalidStatus

from tests.support.server import Server
from tests.support.sockets_client import new_source, phoenix, post_event

APP = "https://app.example"


@pytest.fixture(scope="module")
def guarded():
    """A server that allows WebSockets from two origins only."""
    with Server(env={"RELAYMAN_ALLOWED_ORIGINS": f"{APP}, https://admin.example"}) as running:
        yield running


@pytest.mark.parametrize("vsn", ["3.0.0", "0.1.0", "latest"])
async def test_other_protocol_versions_are_refused(server, vsn):
    with pytest.raises(InvalidStatus) as refused:
        async with phoenix(server, vsn):
            pass
    assert refused.value.response.status_code == 403


async def test_any_origin_is_allowed_by_default(server):
    async with phoenix(server, origin="https://anywhere.example") as client:
        await client.join(f"source:{new_source()}")


@pytest.mark.parametrize("origin", [APP, "https://admin.example", None])
async def test_listed_origins_and_non_browser_clients_are_allowed(guarded, origin):
    source = new_source()
    async with phoenix(guarded, origin=origin) as client:
        await client.join(f"source:{source}")
        event = await post_event(guarded, source)
        assert (await client.recv())[4] == event


@pytest.mark.parametrize("origin", ["https://evil.example", "http://app.example", "null"])
async def test_other_origins_are_refused(guarded, origin):
    with pytest.raises(InvalidStatus) as refused:
        async with phoenix(guarded, origin=origin):
            pass
    assert refused.value.response.status_code == 403
    # One episode for a run of them: the first origin is logged, the rest counted.
    assert "event=handshake_refused_started reason='origin not allowed'" in guarded.logs()


async def test_phoenix_subprotocol_is_chosen_when_offered_with_a_token(server):
    offered = ["phoenix", "base64url.bearer.phx.c2VjcmV0"]
    async with phoenix(server, subprotocols=offered) as client:
        assert client.ws.subprotocol == "phoenix"
        await client.join(f"source:{new_source()}")


async def test_no_subprotocol_when_none_is_offered(server):
    async with phoenix(server) as client:
        assert client.ws.subprotocol is None
        assert (await client.request("phoenix", "heartbeat"))[4]["status"] == "ok"
