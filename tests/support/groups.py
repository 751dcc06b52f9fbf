"""Listen on a channel layer as a subscriber's socket does: from the group of one source."""

import asyncio
import json

from channels.layers import get_channel_layer

from events.publishing import MESSAGE_TYPE, RUN_MESSAGE_TYPE, group_for

RECEIVE_TIMEOUT = 5


class GroupListener:
    """A channel joined to the group of `source` for the duration of an `async with` block."""

    def __init__(self, source: str, layer=None):
        self.source = source
        self.layer = layer or get_channel_layer()
        self.channel = None
        self._unpacked: list[dict] = []  # the rest of a run message's events

    async def __aenter__(self) -> "GroupListener":
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(group_for(self.source), self.channel)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.layer.group_discard(group_for(self.source), self.channel)

    async def receive_message(self) -> dict:
        """The next message the layer delivers, as it is; fails after RECEIVE_TIMEOUT seconds."""
        return await asyncio.wait_for(self.layer.receive(self.channel), RECEIVE_TIMEOUT)

    async def receive(self) -> dict:
        """The next relayed event as a one-event message, taken out of a run if need be."""
        if not self._unpacked:
            message = await self.receive_message()
            if message["type"] != RUN_MESSAGE_TYPE:
                return message
            self._unpacked = [
                {"type": MESSAGE_TYPE, "source": message["source"], "event": e, "payload": p}
                for e, p in message["events"]
            ]
        return self._unpacked.pop(0)

    async def receive_event(self) -> dict:
        """The next relayed event, decoded from the message's pre-encoded payload."""
        return json.loads((await self.receive())["payload"])
