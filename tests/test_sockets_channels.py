"""End to end against a real daphne: joining, leaving and receiving events, V1 and V2."""

import json

import pytest

from tests.support.sockets_client import new_source, phoenix, post_event

VSNS = pytest.mark.parametrize("vsn", ["2.0.0", "1.0.0", None])


@VSNS
async def test_joined_socket_receives_each_event_named_by_its_type(server, vsn):
    source = new_source()
    async with phoenix(server, vsn) as client:
        await client.join(f"source:{source}")
        event = await post_event(server, source, "created", data={"id": "1"})
        assert await client.recv() == [None, None, f"source:{source}", "created", event]


async def test_v1_frames_are_json_objects(server):
    source = new_source()
    async with phoenix(server, "1.0.0") as client:
        await client.send("1", "1", f"source:{source}", "phx_join")
        assert json.loads(await client.recv_raw()) == {
            "join_ref": "1",
            "ref": "1",
            "topic": f"source:{source}",
            "event": "phx_reply",
            "payload": {"status": "ok", "response": {"messages": []}},
        }
        event = await post_event(server, source, "updated")
        assert json.loads(await client.recv_raw()) == {
            "join_ref": None,
            "ref": None,
            "topic": f"source:{source}",
            "event": "updated",
            "payload": event,
        }


@VSNS
async def test_heartbeat_is_answered_ok(server, vsn):
    async with phoenix(server, vsn) as client:
        reply = await client.request("phoenix", "heartbeat")
        assert reply == [None, "1", "phoenix", "phx_reply", {"status": "ok", "response": {}}]


@VSNS
@pytest.mark.parametrize("topic", ["room:lobby", "source:", "phoenix"])
async def test_join_of_another_topic_is_unmatched(server, vsn, topic):
    async with phoenix(server, vsn) as client:
        reply = await client.request(topic, "phx_join", join_ref="1")
        assert reply == [
            "1",
            "1",
            topic,
            "phx_reply",
            {"status": "error", "response": {"reason": "unmatched topic"}},
        ]


@VSNS
async def test_message_to_a_topic_not_joined_is_unmatched(server, vsn):
    async with phoenix(server, vsn) as client:
        reply = await client.request(f"source:{new_source()}", "shout", join_ref="9")
        assert reply[4] == {"status": "error", "response": {"reason": "unmatched topic"}}


async def test_client_pushes_on_a_joined_topic_are_refused(server):
    topic = f"source:{new_source()}"
    async with phoenix(server) as client:
        join_ref = await client.join(topic)
        reply = await client.request(topic, "shout", {"body": "hi"}, join_ref=join_ref)
        assert reply[4] == {"status": "error", "response": {"reason": "unsupported event"}}


@VSNS
async def test_duplicate_join_closes_the_old_join_and_delivers_once(server, vsn):
    source = new_source()
    topic = f"source:{source}"
    async with phoenix(server, vsn) as client:
        old = await client.join(topic)
        await client.send("5", "5", topic, "phx_join")
        assert await client.recv() == [old, old, topic, "phx_close", {}]
        assert await client.recv() == [
            "5",
            "5",
            topic,
            "phx_reply",
            {"status": "ok", "response": {"messages": []}},
        ]
        first = await post_event(server, source)
        second = await post_event(server, source)
        assert await client.recv() == [None, None, topic, "created", first]
        assert await client.recv() == [None, None, topic, "created", second]


@VSNS
async def test_leave_replies_ok_closes_and_stops_events(server, vsn):
    left, still = new_source(), new_source()
    async with phoenix(server, vsn) as client:
        join_ref = await client.join(f"source:{left}")
        await client.join(f"source:{still}")
        reply = await client.request(f"source:{left}", "phx_leave", join_ref=join_ref)
        assert reply[4] == {"status": "ok", "response": {}}
        assert await client.recv() == [join_ref, join_ref, f"source:{left}", "phx_close", {}]
        await post_event(server, left)
        marker = await post_event(server, still)
        # Events are relayed in the order posted: the left source's would have come first.
        assert await client.recv() == [None, None, f"source:{still}", "created", marker]


async def test_leave_and_rejoin_receives_again(server):
    source = new_source()
    topic = f"source:{source}"
    async with phoenix(server) as client:
        join_ref = await client.join(topic)
        await client.request(topic, "phx_leave", join_ref=join_ref)
        assert (await client.recv())[3] == "phx_close"
        await client.join(topic)
        event = await post_event(server, source)
        assert await client.recv() == [None, None, topic, "created", event]


async def test_several_sockets_each_get_exactly_their_own_events_in_order(server):
    orders, payments, end = new_source(), new_source(), new_source()
    async with (
        phoenix(server) as only_orders,
        phoenix(server, "1.0.0") as only_payments,
        phoenix(server) as both,
    ):
        for client, sources in (
            (only_orders, [orders]),
            (only_payments, [payments]),
            (both, [orders, payments]),
        ):
            for source in [*sources, end]:
                await client.join(f"source:{source}")

        posted = []
        for n in range(6):
            source = (orders, payments)[n % 3 == 2]
            event = await post_event(server, source, f"type-{n}", data={"n": n})
            posted.append((source, event))
        done = await post_event(server, end, "end")

        async def received_until_end(client):
            frames = []
            while (frame := await client.recv())[3] != "end":
                frames.append(frame)
            assert frame[4] == done
            return frames

        def expected(*sources):
            return [
                [None, None, f"source:{s}", event["type"], event]
                for s, event in posted
                if s in sources
            ]

        assert await received_until_end(only_orders) == expected(orders)
        assert await received_until_end(only_payments) == expected(payments)
        assert await received_until_end(both) == expected(orders, payments)


async def test_sources_with_any_characters_are_their_own_channels(server):
    odd = 'urn:x-relay:café/ü?q=1&a="b" '
    async with phoenix(server) as client, phoenix(server) as other:
        await client.join(f"source:{odd}")
        await other.join(f"source:{odd.strip()}")
        event = await post_event(server, odd, "créé")
        assert await client.recv() == [None, None, f"source:{odd}", "créé", event]
        marker = await post_event(server, odd.strip())
        assert (await other.recv())[4] == marker


async def test_pushes_of_every_frame_size_arrive_whole_and_in_order_with_replies(server):
    """Pushes and replies share one stream to the client: each arrives whole, in order."""
    source = new_source()
    async with phoenix(server) as client:
        await client.join(f"source:{source}")
        for size in (10, 200, 70_000, 500_000):  # 7-, 16- and 64-bit frame lengths
            event = await post_event(server, source, "sized", data="é" + "x" * size)
            await client.send(None, "hb", "phoenix", "heartbeat")
            assert await client.recv() == [None, None, f"source:{source}", "sized", event]
            assert (await client.recv())[1:4] == ["hb", "phoenix", "phx_reply"]
