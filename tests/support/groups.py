"""Listen on a channel layer as a subscriber's socket does: from the group of one source."""

import asyncio
import json

from channels.layers import get_channel_layer

from events.publishing import group_for

RECEIVE_TIMEOUT = 5


class GroupListener:
    """A channel joined to the group of `source` for the duration of an `async with` block."""

    def __init__(self, source: str, layer=None):
        self.source = source
        self.layer = layer or get_channel_layer()
        self.channel = None

    async def __aenter__(self) -> "GroupListener":
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(group_for(self.source), self.channel)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.layer.group_discard(group_for(self.source), self.channel)

    async def receive(self) -> dict:
        """The next message relayed to the group; fails after RECEIVE_TIMEOUT seconds."""
        return await asyncio.wait_for(self.layer.receive(self.channel), RECEIVE_TIMEOUT)

    async def receive_event(self) -> dict:
        """The next relayed event, decoded from the message's pre-encoded payload."""
        return json.loads((await self.receive())["payload"])
