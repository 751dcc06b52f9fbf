"""Who may join a private source: the keys and settings in force, and the verdict on one join.

The consumer asks `verify_socket_token` at the handshake and `authorize` per join of a private
source. Both read memory only (the keyring is rebuilt when the admin's mirror, `events.snapshot`,
or a RELAYMAN_ setting changes), except the host project's join authorizer, which may query the
database: a sync one runs in Django's thread for sync code, with its connection handling.
`subscriber_token` mints tokens for Django code (the README's "Private sources").
"""

import inspect
import time
from collections.abc import Iterable
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from . import config, snapshot
from .subscriber_tokens import Grant, Keyring, SubscriberKey, TokenRefused, mint, public_key_file

# (the snapshot the keyring was built from, the keyring): replaced, never mutated.
_built: tuple[snapshot.Snapshot | None, Keyring | None] = (None, None)


@dataclass(frozen=True)
class Verdict:
    """The answer to one join: allowed until `expires` (epoch seconds; None: no token needed
    renewing), by the socket's own token or not; or refused, saying why."""

    allowed: bool
    expires: float | None = None
    by_socket: bool = False
    detail: str = ""
    socket_expired: bool = False  # the socket's token covered the source, but has expired


def prefixes() -> tuple[str, ...]:
    """The private source prefixes in force; empty when the feature is off."""
    return tuple(config.get("PRIVATE_SOURCES"))


def keyring() -> Keyring:
    current = snapshot.current()
    built_from, ring = _built
    if built_from is not current or ring is None:
        ring = _build(current)
    return ring


def verify_socket_token(token: str) -> Grant:
    """The grant of a token given at the handshake, or `TokenRefused` (the handshake's 403)."""
    return keyring().verify(token)


async def authorize(scope, source: str, channel_token: str | None, socket: Grant | None):
    """Whether this socket may join the private `source`: the join payload's token first, then
    the socket's, then the join authorizer; each refusal's detail names why."""
    detail = "no subscriber token covers this source"
    if channel_token is not None:
        try:
            grant = keyring().verify(channel_token)
        except TokenRefused as refused:
            detail = f"the join's token: {refused}"
        else:
            if grant.covers(source):
                return Verdict(True, expires=grant.expires_at)
            detail = "the join's token does not cover this source"
    if socket is not None and socket.covers(source):
        if socket.expires_at <= time.time():
            return Verdict(False, detail="the socket's token has expired", socket_expired=True)
        return Verdict(True, expires=socket.expires_at, by_socket=True)
    authorizer = _authorizer(config.get("JOIN_AUTHORIZER"))
    if authorizer is not None and await authorizer(scope, source):
        return Verdict(True)
    return Verdict(False, detail=detail)


def subscriber_token(
    sources: Iterable[str], expires_in: float = 3600, key_id: str | None = None
) -> str:
    """A subscriber token for `sources` (prefixes, or `*` alone), valid `expires_in` seconds.

    Signed with RELAYMAN_SUBSCRIBER_JWT_SECRET, or with the admin's HS256 subscriber key
    `key_id` (its `kid` goes in the header); RELAYMAN_SUBSCRIBER_JWT_AUDIENCE becomes `aud`.
    """
    if key_id is None:
        secret = config.get("SUBSCRIBER_JWT_SECRET")
        if not secret:
            raise ValueError("RELAYMAN_SUBSCRIBER_JWT_SECRET is not set: no key to sign with")
        key = SubscriberKey("", "HS256", secret)
    else:
        key = snapshot.current().subscriber_keys.get(key_id)
        if key is None or not key.active:
            raise ValueError(f"no active subscriber key has the key id {key_id!r}")
    return mint(sources, expires_in, key, config.get("SUBSCRIBER_JWT_AUDIENCE"))


def _build(current: snapshot.Snapshot) -> Keyring:
    global _built
    keys = list(current.subscriber_keys.values())
    if secret := config.get("SUBSCRIBER_JWT_SECRET"):
        keys.append(SubscriberKey("", "HS256", secret))
    if path := config.get("SUBSCRIBER_JWT_PUBLIC_KEY"):
        keys.append(public_key_file(path))
    ring = Keyring(keys, config.get("SUBSCRIBER_JWT_AUDIENCE"))
    _built = (current, ring)
    return ring


_authorizers: dict[str, object] = {}


def _authorizer(path: str | None):
    """The join authorizer as a coroutine function, imported once; a sync one runs off the loop."""
    if path is None:
        return None
    if path not in _authorizers:
        function = import_string(path)
        if not inspect.iscoroutinefunction(function):
            function = database_sync_to_async(function)
        _authorizers[path] = function
    return _authorizers[path]


def _forget(*, setting, **kwargs):
    global _built
    if setting.startswith("RELAYMAN_"):
        _built = (None, None)


setting_changed.connect(_forget)
