"""An in-process channel layer whose broadcast costs O(subscribers): the embedded default.

Channels' `InMemoryChannelLayer` scans every channel and group on every `receive` and
`group_send` (so one broadcast to N subscribers costs O(N²)) and deep-copies the message once per
subscriber. This layer honours the same contract (send, receive, new_channel, groups, expiry,
capacity, flush) while doing only the work each call needs:

- each channel is a mailbox (a list of `(expires_at, message)` plus the receivers waiting on it);
- `group_send` copies the message once, then appends it to each member's mailbox, handing each a
  shallow copy of the top-level dict (values are shared, so they must be treated as read-only);
- expiry is checked lazily, on the one mailbox being touched: a channel holding a message older
  than `expiry` has stopped receiving, so it is dropped from its groups, as Channels' layers do;
- group membership older than `group_expiry` lapses when the group is next sent to; by default
  (None) it never does: a socket kept alive by heartbeats for days must keep receiving, and the
  socket consumer discards its memberships however it ends;
- a mailbox goes when its channel has left every group and nobody waits on it: what is queued
  there is for a socket that has gone.

Nothing a `group_send` accepted is dropped silently. A mailbox holds at most `capacity` messages
(100 by default). A member whose mailbox is full gets `overflow_grace` seconds for its receiver
to make room; if it is still full, the member gets OVERFLOW instead, once, after what it already
holds, and nothing more: the socket consumer closes that socket (4008) and logs it. `send` keeps
Channels' contract and raises `ChannelFull`.
"""

import asyncio
import time
import uuid
from copy import deepcopy

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer

# What a member whose mailbox stayed full gets in place of the messages it cannot take.
OVERFLOW = {"type": "relay.overflow"}
# Seconds a message for a full mailbox waits for its receiver to make room before OVERFLOW.
OVERFLOW_GRACE = 0.5


class _Mailbox:
    """One channel's queued messages and the `receive` calls waiting for them.

    Lists rather than deques: there is a mailbox per socket, an empty deque takes 600 bytes, and
    both stay short (messages are capped by the channel's capacity).
    """

    __slots__ = ("messages", "capacity", "waiters", "room", "overflowed")

    def __init__(self, capacity: int):
        self.messages: list[tuple[float, dict]] = []
        self.capacity = capacity
        self.waiters: list[asyncio.Future] = []
        self.room: asyncio.Future | None = None  # done when a receiver next takes a message
        self.overflowed = False  # OVERFLOW is queued: later messages are for a closing socket

    def drop_expired(self, now: float) -> bool:
        """Drop messages past their expiry; True when any was dropped."""
        dropped = False
        while self.messages and self.messages[0][0] < now:
            del self.messages[0]
            dropped = True
        return dropped

    def put(self, expires_at: float, message: dict) -> None:
        self.messages.append((expires_at, message))
        self.wake()

    def take(self) -> dict:
        """The oldest message, making room for a `group_send` that waits for it."""
        message = self.messages.pop(0)[1]
        if self.room is not None:
            self.room.set_result(None)
            self.room = None
        return message

    def room_made(self) -> asyncio.Future:
        """A future done when a receiver next takes a message."""
        if self.room is None:
            self.room = asyncio.get_running_loop().create_future()
        return self.room

    def overflow(self, expires_at: float) -> None:
        """Queue OVERFLOW past the capacity, once: what comes after is not kept."""
        self.overflowed = True
        self.put(expires_at, dict(OVERFLOW))

    def wake(self) -> None:
        """Wake one waiting receiver. The message stays queued until a receiver takes it, so a
        receiver cancelled at the wrong moment never loses one."""
        while self.waiters:
            waiter = self.waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return


class EmbeddedChannelLayer(BaseChannelLayer):
    """A channel layer for one process; a `REDIS_URL` replaces it for several."""

    extensions = ["groups", "flush"]

    def __init__(
        self,
        expiry=60,
        group_expiry=None,
        capacity=100,
        channel_capacity=None,
        overflow_grace=OVERFLOW_GRACE,
        **kwargs,
    ):
        super().__init__(expiry=expiry, capacity=capacity, **kwargs)
        self.channel_capacity = self.compile_capacities(channel_capacity or {})
        self.group_expiry = group_expiry
        self.overflow_grace = overflow_grace
        self.mailboxes: dict[str, _Mailbox] = {}
        self.groups: dict[str, dict[str, float]] = {}  # group -> {channel: joined at}
        self.memberships: dict[str, set[str]] = {}  # channel -> groups, to drop it from all
        # Whether a consumer (a socket) ever started in this process: until one has, what is
        # published here reaches nobody, and `publishing` says so once.
        self.opened_channels = False

    # Channels

    async def new_channel(self, prefix="specific."):
        self.opened_channels = True
        return f"{prefix}.embedded!{uuid.uuid4().hex}"

    async def send(self, channel, message):
        assert isinstance(message, dict), "message is not a dict"
        assert "__asgi_channel__" not in message
        if not self._deliver(channel, deepcopy(message), time.time()):
            raise ChannelFull(channel)

    async def receive(self, channel):
        """The oldest unexpired message on `channel`, waiting for one if there is none.

        A channel's mailbox lives while its receiver does: it is dropped when a receive is
        cancelled (the consumer went away) and nothing is left in it for a group it is in.
        """
        mailbox = self._mailbox(channel)
        while True:
            if mailbox.messages:
                if mailbox.drop_expired(time.time()):
                    self._leave_all_groups(channel)
                if mailbox.messages:
                    return mailbox.take()
            waiter = asyncio.get_running_loop().create_future()
            mailbox.waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in mailbox.waiters:
                    mailbox.waiters.remove(waiter)
                else:  # woken for a message it will not take: pass the turn on
                    mailbox.wake()
                if (
                    self.mailboxes.get(channel) is mailbox
                    and not mailbox.waiters
                    and (not mailbox.messages or channel not in self.memberships)
                ):
                    del self.mailboxes[channel]
                raise

    def _mailbox(self, channel: str) -> _Mailbox:
        mailbox = self.mailboxes.get(channel)
        if mailbox is None:
            self.require_valid_channel_name(channel)
            mailbox = self.mailboxes[channel] = _Mailbox(self.get_capacity(channel))
        return mailbox

    def _deliver(self, channel: str, message: dict, now: float) -> bool:
        """Queue `message` on `channel`; False when the channel is full.

        An overflowed channel takes nothing more, and says so no more: its socket is closing.
        """
        mailbox = self._mailbox(channel)
        if mailbox.messages and mailbox.drop_expired(now):
            self._leave_all_groups(channel)
        if mailbox.overflowed:
            return True
        if len(mailbox.messages) >= mailbox.capacity:
            return False
        mailbox.put(now + self.expiry, message)
        return True

    # Groups

    async def group_add(self, group, channel):
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        self.groups.setdefault(group, {})[channel] = time.time()
        self.memberships.setdefault(channel, set()).add(group)

    async def group_discard(self, group, channel):
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        self._discard(group, channel)
        mailbox = self.mailboxes.get(channel)
        if channel not in self.memberships and mailbox is not None and not mailbox.waiters:
            del self.mailboxes[channel]  # what it holds was for a socket that has gone

    async def group_send(self, group, message):
        """Queue one copy of `message` for every member; overflow a member that stays full."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        members = self.groups.get(group)
        if not members:
            return
        message = deepcopy(message)
        now = time.time()
        lapsed_before = now - self.group_expiry if self.group_expiry is not None else 0.0
        full = []
        for channel, joined_at in list(members.items()):
            if joined_at < lapsed_before:
                self._discard(group, channel)
            elif not self._deliver(channel, dict(message), now):
                full.append(channel)
        if full:
            await self._deliver_when_room(group, full, message)

    async def _deliver_when_room(self, group: str, channels: list[str], message: dict) -> None:
        """Wait up to `overflow_grace` for each full member to make room, then overflow it.

        A member's receiver takes messages as soon as the event loop lets it: a mailbox that
        stays full that long belongs to a socket that has stopped, and waiting longer would hold
        up the producer for it.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.overflow_grace
        for channel in channels:
            while channel in self.groups.get(group, ()):
                if self._deliver(channel, dict(message), time.time()):
                    break
                mailbox = self.mailboxes[channel]
                remaining = deadline - loop.time()
                if remaining <= 0:
                    mailbox.overflow(time.time() + self.expiry)
                    break
                await asyncio.wait([mailbox.room_made()], timeout=remaining)

    def _discard(self, group: str, channel: str) -> None:
        members = self.groups.get(group)
        if members is not None:
            members.pop(channel, None)
            if not members:
                del self.groups[group]
        groups = self.memberships.get(channel)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del self.memberships[channel]

    def _leave_all_groups(self, channel: str) -> None:
        for group in list(self.memberships.get(channel, ())):
            self._discard(group, channel)

    # Flush extension

    async def flush(self):
        """Forget every message and group; receivers already waiting keep waiting."""
        for channel, mailbox in list(self.mailboxes.items()):
            mailbox.messages.clear()
            if not mailbox.waiters:
                del self.mailboxes[channel]
        self.groups.clear()
        self.memberships.clear()

    async def close(self):
        pass
