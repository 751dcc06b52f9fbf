"""`bench.settings` with no middleware at all: the ceiling of a view inside Django's handler.

Served only by `bench.ceiling`. No deployment may run so: the admin needs its middleware, and a
host project's middleware runs around POST /events.
"""

from bench.settings import *  # noqa: F403

MIDDLEWARE = []
