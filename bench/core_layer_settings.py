"""Relayman's settings with channels-redis's core layer instead of the pub/sub one, for
bench/layer_choice.py to measure against.

The core layer blocks in BZPOPMIN for 5 s at a time, as long as redis-py 8's default read
timeout: left at that default, idle sockets crash with a TimeoutError (a 1011 close).
"""

from relayman_project.settings import *  # noqa: F403

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],  # noqa: F405
            "prefix": "relayman",
        },
    }
}
