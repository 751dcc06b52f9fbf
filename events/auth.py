"""Producer keys on POST /events: which key publishes (or a 401), and to which sources (or a 403).

Both read only `events.snapshot`'s in-memory mirror, never the database, so they cost the same on
the event loop as anywhere. When the relay does not require keys, neither looks at the request:
behaviour is exactly as without them.
"""

from . import config, producer_keys, snapshot
from .producer_keys import KeyRecord
from .refusal import Refusal

REALM = 'Bearer realm="relayman"'


def producer_key(request) -> KeyRecord | None:
    """The key of `Authorization: Bearer <key>`, None when keys are not required; a missing,
    unknown or inactive key is a 401."""
    if not config.get("REQUIRE_PRODUCER_KEYS"):
        return None
    header = request.headers.get("Authorization")
    if not header:
        raise _unauthorized(
            "This relay requires a producer key: send 'Authorization: Bearer <key>'."
        )
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise _unauthorized("The Authorization header must read 'Bearer <key>'.")
    key_id = producer_keys.key_id_of(key)
    record = snapshot.key(key_id) if key_id else None
    if record is None or not producer_keys.matches(key, record):
        raise _unauthorized("Unknown producer key.")
    if not record.active:
        raise _unauthorized(f"The producer key '{record.name}' has been deactivated.")
    snapshot.record_use(record.key_id)
    return record


def check_sources(record: KeyRecord | None, events: list[dict]) -> None:
    """A key may publish only to sources its prefixes cover: all of a batch, or none (403)."""
    if record is None:
        return
    missing = producer_keys.uncovered(record.source_prefixes, (e["source"] for e in events))
    if missing:
        raise Refusal(
            403,
            f"The producer key '{record.name}' may not publish to source {_list(missing)}: "
            f"its allowed source prefixes are {_list(record.source_prefixes)}.",
        )


def _unauthorized(detail: str) -> Refusal:
    return Refusal(401, detail, headers={"WWW-Authenticate": REALM})


def _list(values, shown: int = 5) -> str:
    text = ", ".join(repr(v) for v in values[:shown])
    return f"{text} and {len(values) - shown} more" if len(values) > shown else text
