"""History in Redis: one stream per source, written in the same transaction as the publish.

Each kept event is one stream entry with fields m (mark), i (CloudEvent id), t (type) and
p (the event's JSON). A publish is one MULTI/EXEC round trip: XADD per event (MAXLEN ~ size),
XTRIM MINID ~ (the age), PEXPIRE (a source that goes quiet leaves nothing behind) and PUBLISH.
A transaction rather than a Lua script: it is atomic all the same, so the stream's order is the
order subscribers receive messages in, on every node; and there is no script to load again
after a Redis restart or failover, nor one that managed Redis services may refuse to run.

Redis holds at most about size × sources published to within the age × event size ("~" trims
whole nodes of the stream, so a stream may briefly hold up to a hundred entries more than its
size; reads never look past the newest `size`).
"""

import time

from .history_entries import Kept, Limits, Search

# Entries read per XREVRANGE while looking for the client's last event, newest first. Reading
# stops as soon as the reply would pass its limits, so a read takes at most this many entries
# more than the reply can hold.
PAGE = 32


def stream_key(prefix: str, group: str) -> str:
    """The stream of a source, named by its group (a digest: sources are any URI-reference)."""
    return f"{prefix}:history:{group}"


def oldest_id(limits: Limits) -> str:
    """The stream id before which entries are past the age (by this node's clock)."""
    return f"{max(int((time.time() - limits.seconds) * 1000), 0)}-0"


def _client(layer, group: str):
    """The Redis client of the shard serving `group`, and the group's pub/sub channel there."""
    loop_layer = layer._get_layer()
    channel = loop_layer._get_group_channel_name(group)
    shard = loop_layer._get_shard(channel)
    shard._ensure_redis()
    return shard._redis, channel, loop_layer.prefix


async def send(layer, group: str, message: dict, kept: list[Kept], limits: Limits) -> None:
    """XADD the kept events and PUBLISH the message, in one MULTI/EXEC."""
    redis, channel, prefix = _client(layer, group)
    key = stream_key(prefix, group)
    async with redis.pipeline(transaction=True) as pipe:
        for entry in kept:
            fields = {"m": entry.mark, "i": entry.event_id, "t": entry.event_type}
            pipe.xadd(key, {**fields, "p": entry.payload}, maxlen=limits.size, approximate=True)
        pipe.xtrim(key, minid=oldest_id(limits), approximate=True)
        pipe.pexpire(key, int(limits.seconds * 1000))
        pipe.publish(channel, layer.serialize(message))
        await pipe.execute()


async def after(layer, group: str, event_id: str, limits: Limits) -> list[Kept] | None:
    """The stream's entries after the latest with `event_id`, oldest first, or None.

    Waits first for this process's subscription to the group to be confirmed, so that every
    event published after the read also arrives live.
    """
    if hasattr(layer, "subscribed"):
        await layer.subscribed(group)
    redis, _, prefix = _client(layer, group)
    key, oldest, newest = stream_key(prefix, group), oldest_id(limits), "+"
    search = Search(event_id, limits)
    while True:
        page = await redis.xrevrange(key, max=newest, min=oldest, count=PAGE)
        for _, fields in page:
            entry = Kept(*(fields[name].decode() for name in (b"m", b"i", b"t", b"p")))
            if search.feed(entry):
                return search.found
        if len(page) < PAGE:
            return None
        newest = "(" + page[-1][0].decode()
