"""Producer keys on POST /events, as DRF authentication and permission classes.

Both read only `events.snapshot`'s in-memory mirror, never the database, so they cost the same
whatever thread or event loop DRF runs them on. When the relay does not require keys, neither
looks at the request: behaviour is exactly as without them.
"""

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from . import config, producer_keys, snapshot

REALM = 'Bearer realm="relayman"'


class ProducerKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key>`: a missing, unknown or inactive key is a 401."""

    def authenticate(self, request):
        if not config.get("REQUIRE_PRODUCER_KEYS"):
            return None
        try:
            record = producer_keys.check(request.META.get("HTTP_AUTHORIZATION"), snapshot.key)
        except producer_keys.KeyRefused as refused:
            failure = (
                exceptions.NotAuthenticated if refused.missing else exceptions.AuthenticationFailed
            )
            raise failure(str(refused)) from None
        snapshot.record_use(record.key_id)
        return (None, record)

    def authenticate_header(self, request):
        return REALM


class SourcePrefixPermission(BasePermission):
    """A key may publish only to sources its prefixes cover: all of a batch, or none (403).

    The view checks it with `check_object_permissions(request, events)` once the events are
    validated, before any is published.
    """

    def has_object_permission(self, request, view, events):
        record = request.auth
        if record is None:
            return True
        missing = producer_keys.uncovered(record.source_prefixes, (e["source"] for e in events))
        if missing:
            raise exceptions.PermissionDenied(
                f"The producer key '{record.name}' may not publish to source {_list(missing)}: "
                f"its allowed source prefixes are {_list(record.source_prefixes)}."
            )
        return True


def _list(values, shown: int = 5) -> str:
    text = ", ".join(repr(v) for v in values[:shown])
    return f"{text} and {len(values) - shown} more" if len(values) > shown else text
