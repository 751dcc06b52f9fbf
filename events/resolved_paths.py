"""URL resolution remembered per path, for paths that capture nothing.

Django resolves every request's path afresh: a walk of the URLconf's patterns and includes that
cost POST /events about 6 % of its instructions, for an answer that never changes. A match that
captured nothing (no args, no kwargs from the path) depends on the path and the URLconf alone,
so it is remembered, keyed by both: a URLconf changed at run time (`override_settings`,
a middleware's `request.urlconf`) comes with a new resolver, hence new keys. A match that
captured values is not kept, as a path converter's `to_python` may answer differently over time.

Each request gets its own copy of the match, its dicts and lists included, as Django would give
it a new one: a view or a middleware that changes `request.resolver_match` changes nothing for
the next request.
"""

from django.urls import ResolverMatch

# The URLconf's own literal routes are few and short; the bounds are for paths an attacker may
# invent that match a route capturing nothing (a regex route such as r"^static/.*$"): no path
# longer than a route's is kept (the server takes paths of up to 16 KiB), and when the count is
# reached all is forgotten at once, a step that is thread-safe where evicting one entry is not.
REMEMBERED_PATHS = 512
REMEMBERED_PATH_CHARS = 256

# What a ResolverMatch holds that a view could change (its other values are strings, a tuple
# and the view itself); tests/test_resolved_paths.py checks that no other dict or list is shared.
MUTABLE = ("kwargs", "captured_kwargs", "extra_kwargs", "app_names", "namespaces", "tried")

_remembered: dict[tuple, ResolverMatch] = {}


def resolve(resolver, path: str) -> ResolverMatch:
    """`resolver.resolve(path)`, from memory when the path captures nothing."""
    remembered = _remembered.get((resolver, path))
    if remembered is None:
        match = resolver.resolve(path)  # Resolver404 for no match: nothing to remember
        if match.args or match.captured_kwargs or len(path) > REMEMBERED_PATH_CHARS:
            return match
        if len(_remembered) >= REMEMBERED_PATHS:
            _remembered.clear()
        remembered = _remembered[resolver, path] = match
    match = ResolverMatch.__new__(ResolverMatch)
    match.__dict__.update(remembered.__dict__)
    for name in MUTABLE:
        value = getattr(remembered, name)
        if value is not None:
            setattr(match, name, value.copy())
    return match
