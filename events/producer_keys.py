"""Producer keys as plain values, free of Django: making, recognizing and checking them.

`check` is the one judgement of a presented key: DRF's authentication class (events.auth) calls
it for the view, and Relayman's server calls it before it reads a request's body.

A key reads `rmk_<key id>_<secret>`. The key id is public (the admin lists it, so an operator can
tell which record a leaked key belongs to) and finds the record; the secret is 256 random bits.
Only the SHA-256 of the whole key is stored: with that much entropy a slow password hash adds
nothing, and the check stays cheap enough for every POST. The comparison is constant-time.
"""

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

PREFIX = "rmk_"
KEY_ID_CHARS = 16
# Allows every source, written alone on its line of allowed source prefixes.
ANY_SOURCE = "*"


@dataclass(frozen=True)
class KeyRecord:
    """What a request is checked against: a stored key, without its secret."""

    key_id: str
    name: str
    key_hash: str
    source_prefixes: tuple[str, ...]
    active: bool


class KeyRefused(Exception):
    """The `Authorization` header lets no producer in; the message says why (a 401)."""

    def __init__(self, message: str, *, missing: bool = False):
        super().__init__(message)
        self.missing = missing  # no header at all, rather than a wrong one


def check(authorization: str | None, find: Callable[[str], KeyRecord | None]) -> KeyRecord:
    """The active key record that `Authorization: Bearer <key>` presents, or `KeyRefused`.

    `find` looks a key id up (events.snapshot.key). Linear in the header's length.
    """
    if not authorization:
        raise KeyRefused(
            "This relay requires a producer key: send 'Authorization: Bearer <key>'.",
            missing=True,
        )
    scheme, _, key = authorization.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise KeyRefused("The Authorization header must read 'Bearer <key>'.")
    key_id = key_id_of(key)
    record = find(key_id) if key_id else None
    if record is None or not matches(key, record):
        raise KeyRefused("Unknown producer key.")
    if not record.active:
        raise KeyRefused(f"The producer key '{record.name}' has been deactivated.")
    return record


def new_key() -> tuple[str, str]:
    """A fresh key and its key id; show the key once, store `hash_key(key)`."""
    key_id = secrets.token_hex(KEY_ID_CHARS // 2)
    return f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}", key_id


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def key_id_of(key: str) -> str | None:
    """The key id a presented key claims, or None when it is not shaped like a key."""
    head = len(PREFIX) + KEY_ID_CHARS
    if key.startswith(PREFIX) and key[head : head + 1] == "_" and len(key) > head + 1:
        return key[len(PREFIX) : head]
    return None


def matches(key: str, record: KeyRecord) -> bool:
    return hmac.compare_digest(hash_key(key), record.key_hash)


def display(key_id: str) -> str:
    """How the admin shows a key it no longer knows: its public beginning."""
    return f"{PREFIX}{key_id}_…"


def parse_prefixes(text: str) -> tuple[str, ...]:
    """Allowed source prefixes from the admin's text: one per line, blank lines ignored."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def covers(prefixes: tuple[str, ...] | list[str], source: str) -> bool:
    """Whether a prefix (or `*` alone) covers `source`; settings may list prefixes in a list."""
    return ANY_SOURCE in prefixes or source.startswith(tuple(prefixes))


def uncovered(prefixes: tuple[str, ...], sources: Iterable[str]) -> list[str]:
    """The sources (each once, in order) that no prefix covers."""
    missing = []
    for source in sources:
        if not covers(prefixes, source) and source not in missing:
            missing.append(source)
    return missing
