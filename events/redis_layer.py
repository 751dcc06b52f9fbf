"""channels-redis's pub/sub layer, made to ride out a Redis outage without losing a subscriber.

The stock layer subscribes in Redis as sockets join, and raises when Redis is away: a join during
an outage would crash its socket, and the group would stay unsubscribed once Redis is back.
redis-py resubscribes what a PubSub had already subscribed when its connection comes back, but
only that; meanwhile the stock receive task logs a traceback every second.

Here the layer's own record of channels and groups is the truth. A subscribe or unsubscribe that
fails while Redis is away is remembered, and the receive task, which keeps reconnecting, replays
it once Redis answers again. The outage and the recovery are each logged once.
"""

import asyncio
import logging

from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# Errors that mean "Redis is unreachable or refused us", as opposed to bugs.
UNAVAILABLE = (RedisError, OSError)

# Seconds between reconnection attempts of the receive task while Redis is away.
RETRY_INTERVAL = 0.5


class _ResilientShard(RedisSingleShardConnection):
    """One Redis connection that remembers the (un)subscriptions Redis missed and replays them."""

    def __init__(self, host, channel_layer):
        # Retry a command once on a new connection: after a Redis restart, every idle connection
        # in the pool is dead, and the first command on each would fail.
        super().__init__({"retry": Retry(NoBackoff(), 1), **host}, channel_layer)
        self._pending: set[str] = set()
        self._outage: str | None = None

    async def subscribe(self, channel):
        try:
            await super().subscribe(channel)
        except UNAVAILABLE as exc:
            self._pending.add(channel)
            self._lost(exc)

    async def unsubscribe(self, channel):
        try:
            await super().unsubscribe(channel)
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
                        ignore_subscribe_messages=True, timeout=0.1
                    )
                    self._restored()
                    self._receive_message(message)
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
        if self._outage is None:
            self._outage = str(exc)
            logger.warning(
                "event=redis_unavailable host=%s error=%r: no events are relayed until it is "
                "back; reconnecting every %ss",
                _address(self.host),
                self._outage,
                RETRY_INTERVAL,
            )


class _ResilientLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The stock shards have not connected yet: replacing them leaves nothing open.
        self._shards = [_ResilientShard(shard.host, self) for shard in self._shards]


class ResilientRedisPubSubChannelLayer(RedisPubSubChannelLayer):
    """`RedisPubSubChannelLayer` whose subscriptions survive Redis going away and coming back."""

    def _get_layer(self):
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
