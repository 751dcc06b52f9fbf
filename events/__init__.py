"""Relayman's producer side: CloudEvents in over HTTP, published to the channel layer.

`events.publish`, `events.apublish` and `events.publish_on_commit` publish from Python code
(see `events.api`), and `events.subscriber_token` mints a subscriber token for a private source
(see `events.private_sources`); they are imported on first use, because this package is imported
while Django loads its apps, before models may be.
"""

_API = ("publish", "apublish", "publish_on_commit", "InvalidEvent", "LayerUnavailable")


def __getattr__(name):
    if name in _API:
        from . import api

        return getattr(api, name)
    if name == "subscriber_token":
        from .private_sources import subscriber_token

        return subscriber_token
    raise AttributeError(f"module 'events' has no attribute {name!r}")


def __dir__():
    return [*globals(), *_API, "subscriber_token"]
