"""`/metrics`: Relayman's registry in Prometheus' text format (or OpenMetrics, if asked for).

Open unless RELAYMAN_METRICS_TOKEN is set; then a scrape must send `Authorization: Bearer
<token>`, compared in constant time, and is otherwise a JSON 401 that logs no line (a scanner may
repeat it at will; the token is never logged). GET and HEAD only, as the health probes.
"""

import hmac

from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.http import HttpResponse, JsonResponse
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from . import config
from .health import probe
from .metrics import REGISTRY
from .publishing import can_publish


class RedisUp(Collector):
    """`relayman_redis_up`: whether the channel layer's Redis took a message at this scrape.

    Present only when the layer is a Redis one: the embedded layer has no Redis to be down.
    `check` runs before each scrape, with readiness's own test (`publishing.can_publish`).
    """

    def __init__(self):
        self.up: bool | None = None  # None: the layer is not a Redis one

    async def check(self) -> None:
        layer = get_channel_layer()
        redis = isinstance(layer, RedisPubSubChannelLayer | RedisChannelLayer)
        self.up = await can_publish(layer) if redis else None

    def collect(self):
        if self.up is not None:
            yield GaugeMetricFamily(
                "relayman_redis_up",
                "1 if the channel layer's Redis took a message at this scrape, else 0",
                value=int(self.up),
            )


REDIS_UP = RedisUp()
REGISTRY.register(REDIS_UP)


@probe
async def metrics(request):
    problem = _token_problem(request.headers.get("Authorization", ""))
    if problem is not None:
        response = JsonResponse({"detail": problem}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="relayman-metrics"'
        response._has_been_logged = True
        return response
    await REDIS_UP.check()
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(REGISTRY), content_type=content_type)


def _token_problem(authorization: str) -> str | None:
    """Why a scrape with this Authorization header is refused, or None."""
    token = config.default("METRICS_TOKEN")
    if token is None:
        return None
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return "Metrics need 'Authorization: Bearer <token>', the token RELAYMAN_METRICS_TOKEN sets"
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return "The metrics token is wrong: send the one RELAYMAN_METRICS_TOKEN sets"
    return None
