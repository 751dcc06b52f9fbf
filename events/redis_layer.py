"""channels-redis's pub/sub layer, made to ride out a Redis outage without losing a subscriber.

The stock layer subscribes in Redis as sockets join, and raises when Redis is away: a join during
an outage would crash its socket, and the group would stay unsubscribed once Redis is back.
redis-py resubscribes what a PubSub had already subscribed when its connection comes back, but
only that; meanwhile the stock receive task logs a traceback every second.

Here the layer's own record of channels and groups is the truth. A subscribe or unsubscribe that
fails while Redis is away is remembered, and the receive task, which keeps reconnecting, replays
it once Redis answers again. The outage and the recovery are each logged once.

Nothing received is dropped silently, and nothing grows without bound. The stock layer queues
what Redis relays for each local channel in an unbounded `asyncio.Queue`, filled by one receive
task for the whole process. Here each queue holds at most `capacity` messages (100 by default),
as the embedded layer's mailboxes do, and with the same rule: a message for a full queue waits
up to `overflow_grace` seconds for its socket to make room, and if it is still full the socket
gets OVERFLOW instead, once, and nothing more (the socket consumer closes it, 4008). The
receive task waits meanwhile, so one stuck socket delays the others by the grace, once. It also
yields to the event loop after each message, so sockets take messages as they come.

All this reaches into channels-redis's internals (its shards, their receive task, the loop
layer's queues), so it is used only with the channels-redis versions it was tested on (checked
at import). With any other, the stock layer serves, with one WARNING at start: unbounded
queues, and a traceback a second while Redis is away.
"""

import asyncio
import logging

import channels_redis
from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .layers import OVERFLOW, OVERFLOW_GRACE

logger = logging.getLogger(__name__)

# Errors that mean "Redis is unreachable or refused us", as opposed to bugs.
UNAVAILABLE = (RedisError, OSError)

# Seconds between reconnection attempts of the receive task while Redis is away.
RETRY_INTERVAL = 0.5

TESTED_CHANNELS_REDIS = ("4.3.0",)
_SHARD_INTERNALS = ("_do_receiving", "_receive_message", "_ensure_redis", "_ensure_receiver")
_LAYER_INTERNALS = ("_subscribe_to_channel", "_get_shard")


def internals_known(version: str = channels_redis.__version__) -> bool:
    """Whether channels-redis is a version whose internals this module was tested against."""
    return (
        version in TESTED_CHANNELS_REDIS
        and all(hasattr(RedisSingleShardConnection, name) for name in _SHARD_INTERNALS)
        and all(hasattr(RedisPubSubLoopLayer, name) for name in _LAYER_INTERNALS)
    )


INTERNALS_KNOWN = internals_known()
if not INTERNALS_KNOWN:
    logger.warning(
        "event=fallback channels_redis=%s tested=%s: the stock pub/sub layer serves, with "
        "unbounded queues and no replay of subscriptions after a Redis outage",
        channels_redis.__version__,
        ",".join(TESTED_CHANNELS_REDIS),
    )


class _ResilientShard(RedisSingleShardConnection):
    """One Redis connection that remembers the (un)subscriptions Redis missed and replays them."""

    def __init__(self, host, channel_layer):
        # Retry a command once on a new connection: after a Redis restart, every idle connection
        # in the pool is dead, and the first command on each would fail.
        super().__init__({"retry": Retry(NoBackoff(), 1), **host}, channel_layer)
        self._pending: set[str] = set()
        self._outage: str | None = None
        # Channels Redis has confirmed subscribing, and who waits for a confirmation.
        self._confirmed: set[str] = set()
        self._confirming: dict[str, list[asyncio.Future]] = {}

    async def confirmed(self, channel: str) -> None:
        """Return once Redis has confirmed subscribing to `channel`: from then on, every message
        published to it reaches this process (history catch-up reads only after that)."""
        if self._outage is not None:
            raise ConnectionError(f"Redis is unreachable: {self._outage}")
        if channel in self._confirmed:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._confirming.setdefault(channel, []).append(waiter)
        try:
            await waiter
        finally:
            waiters = self._confirming.get(channel, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._confirming.pop(channel, None)

    def _note_subscription(self, message: dict) -> None:
        """Record a (un)subscribe confirmation and wake whoever waits for it."""
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        if message["type"] != "subscribe":
            self._confirmed.discard(channel)
            return
        self._confirmed.add(channel)
        for waiter in self._confirming.pop(channel, ()):
            if not waiter.done():
                waiter.set_result(None)

    async def subscribe(self, channel):
        await self._now_or_later(super().subscribe, channel)

    async def unsubscribe(self, channel):
        self._confirmed.discard(channel)  # a subscription made again waits for its own
        await self._now_or_later(super().unsubscribe, channel)

    async def _now_or_later(self, change, channel: str) -> None:
        """(Un)subscribe now, or remember to bring `channel` in line once Redis is back."""
        try:
            await change(channel)
        except UNAVAILABLE as exc:
            self._pending.add(channel)
            self._lost(exc)

    async def _do_receiving(self):
        while True:
            try:
                if self._pending:
                    await self._replay_pending()
                if self._pubsub.subscribed:
                    message = await self._pubsub.get_message(
                        ignore_subscribe_messages=False, timeout=0.1
                    )
                    self._restored()
                    kind = message and message["type"]
                    if kind in ("subscribe", "unsubscribe"):
                        self._note_subscription(message)
                    elif kind == "message":
                        self._receive_message(message)
                        await self.channel_layer.admit_waiting()
                        await asyncio.sleep(0)  # let the sockets it woke take it
                else:
                    await asyncio.sleep(0.1)
            except UNAVAILABLE as exc:
                self._lost(exc)
                await asyncio.sleep(RETRY_INTERVAL)

    async def _replay_pending(self):
        """Bring Redis in line with the layer: subscribed exactly to what is wanted here."""
        layer = self.channel_layer
        for name in list(self._pending):
            if name in layer.channels or name in layer.groups:
                await super().subscribe(name)
            else:
                await super().unsubscribe(name)
            self._pending.discard(name)

    def _restored(self) -> None:
        if self._outage is not None and not self._pending:
            self._outage = None
            logger.warning(
                "event=redis_restored host=%s subscriptions=%d",
                _address(self.host),
                len(self._subscribed_to),
            )

    def _lost(self, exc: BaseException) -> None:
        self._confirmed.clear()  # redis-py subscribes again on its new connection
        if self._outage is None:
            self._outage = str(exc)
            logger.warning(
                "event=redis_unavailable host=%s error=%r: no events are relayed until it is "
                "back; reconnecting every %ss",
                _address(self.host),
                self._outage,
                RETRY_INTERVAL,
            )


class _BoundedQueue(asyncio.Queue):
    """A local channel's queue of serialized messages: `capacity` of them, then OVERFLOW once.

    The receive task hands a queue one message at a time, so at most one waits for room.
    """

    def __init__(self, capacity: int, layer: "_ResilientLoopLayer"):
        super().__init__()
        self.capacity = capacity
        self.layer = layer
        self.waiting: bytes | None = None  # a message for this queue while it is full
        self.overflowed = False  # later messages are for a socket being closed: not kept
        self._room: asyncio.Future | None = None  # done when the socket next takes one

    def put_nowait(self, item):
        if self.overflowed:
            return
        if self.qsize() >= self.capacity:
            self.waiting = item
            self.layer.full.add(self)
            return
        super().put_nowait(item)

    def get_nowait(self):
        item = super().get_nowait()
        if self._room is not None:
            self._room.set_result(None)
            self._room = None
        return item

    async def admit_waiting(self, deadline: float) -> None:
        """Queue the waiting message once there is room, or OVERFLOW if there is none by then."""
        loop = asyncio.get_running_loop()
        while self.qsize() >= self.capacity:
            remaining = deadline - loop.time()
            if remaining <= 0:
                self.overflowed = True
                self.waiting = self.layer.overflow
                break
            if self._room is None:
                self._room = loop.create_future()
            await asyncio.wait([self._room], timeout=remaining)
        super().put_nowait(self.waiting)
        self.waiting = None


class _ResilientLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, capacity=100, overflow_grace=OVERFLOW_GRACE, **kwargs):
        super().__init__(*args, **kwargs)
        self.capacity = capacity
        self.overflow_grace = overflow_grace
        self.overflow = self.channel_layer.serialize(OVERFLOW)
        self.full: set[_BoundedQueue] = set()  # queues holding a message until they have room
        # The stock shards have not connected yet: replacing them leaves nothing open.
        self._shards = [_ResilientShard(shard.host, self) for shard in self._shards]

    async def _subscribe_to_channel(self, channel):
        """The stock method, with a bounded queue for the channel."""
        self.channels[channel] = _BoundedQueue(self.capacity, self)
        await self._get_shard(channel).subscribe(channel)

    async def admit_waiting(self) -> None:
        """Give full queues up to `overflow_grace` to take their waiting message."""
        if not self.full:
            return
        deadline = asyncio.get_running_loop().time() + self.overflow_grace
        while self.full:
            await self.full.pop().admit_waiting(deadline)


class ResilientRedisPubSubChannelLayer(RedisPubSubChannelLayer):
    """`RedisPubSubChannelLayer` whose subscriptions survive Redis going away and coming back."""

    async def subscribed(self, group: str) -> None:
        """Return once Redis confirms this process's subscription to `group` (joined first)."""
        if not INTERNALS_KNOWN:
            return
        layer = self._get_layer()
        channel = layer._get_group_channel_name(group)
        await layer._get_shard(channel).confirmed(channel)

    def _get_layer(self):
        if not INTERNALS_KNOWN:
            return super()._get_layer()
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = _ResilientLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer


def _address(host: dict) -> str:
    """Where a shard connects, without its password."""
    address = host.get("address")
    if address:
        scheme, _, rest = address.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"
    if "master_name" in host:
        return f"sentinel:{host['master_name']}"
    return f"{host.get('host', 'localhost')}:{host.get('port', 6379)}"
