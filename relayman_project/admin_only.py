"""The standalone server's session, CSRF, authentication and message middleware, for its admin only.

In the standalone server only the admin uses a session, a login, a CSRF token or messages: its
other routes (POST /events, the probes, /metrics, the schema) are CSRF-exempt and read none of
them. Yet these four layers ran their hooks for every request: 12 % of POST /events'
instructions, a fifth of a bare view's. Here they run them only for paths under the admin's
prefix (found by reversing `admin:index` in the request's URLconf) and pass every other request
straight on; with no admin in the URLconf, they act on every request, as Django's.

They stay subclasses of Django's, so the admin's system checks see its middleware. The classes of
`relayman_project.middleware`, which a host project may copy, act on every request.
"""

from functools import lru_cache

from asgiref.sync import iscoroutinefunction
from django.urls import NoReverseMatch, get_resolver, get_script_prefix, reverse

from . import middleware


@lru_cache(maxsize=16)
def admin_prefix(resolver) -> str | None:
    """The admin's path prefix in `resolver`'s URLconf, without the script prefix; None if the
    URLconf has no admin. Kept per resolver: a URLconf changed at run time comes with a new one."""
    try:
        url = reverse("admin:index", urlconf=resolver.urlconf_name)
    except NoReverseMatch:
        return None
    return "/" + url.removeprefix(get_script_prefix())


def for_the_admin(request) -> bool:
    """Asked by each of the four layers: the first answer is kept on the request, so all four
    act on it, or none."""
    answer = request.__dict__.get("_for_the_admin")
    if answer is None:
        prefix = admin_prefix(get_resolver(getattr(request, "urlconf", None)))
        answer = request._for_the_admin = prefix is None or request.path_info.startswith(prefix)
    return answer


class AdminOnly:
    """Mixed into a middleware: its hooks run for the admin's requests and no others.

    Another request goes straight past this layer and the admin-only layers right after it (in
    settings.MIDDLEWARE, the four in a row), to the first layer that acts on it: in an async
    chain, the coroutine of that layer is returned for the caller to await, with none of the
    skipped layers' own around it. Each layer skipped so cost 1 % of POST /events.
    """

    def __init__(self, get_response):
        super().__init__(get_response)
        self.past_admin_layers = _past_admin_layers(get_response)

    def __call__(self, request):
        if for_the_admin(request):
            return super().__call__(request)
        return self.past_admin_layers(request)


def _past_admin_layers(get_response):
    """`get_response`, or, where it leads to another admin-only layer, what that one passes
    other requests to. Django wraps each layer in a function that turns its exceptions into
    responses, with `functools.wraps`: `__wrapped__` is the layer. Without it, or where the
    next layer runs in the other mode (sync or async), the chain goes layer by layer."""
    following = getattr(get_response, "__wrapped__", None)
    if isinstance(following, AdminOnly) and iscoroutinefunction(
        following.past_admin_layers
    ) == iscoroutinefunction(get_response):
        return following.past_admin_layers
    return get_response


class SessionMiddleware(AdminOnly, middleware.SessionMiddleware):
    pass


class CsrfViewMiddleware(AdminOnly, middleware.CsrfViewMiddleware):
    async def process_view(self, request, callback, callback_args, callback_kwargs):
        if not for_the_admin(request):
            return None
        return await super().process_view(request, callback, callback_args, callback_kwargs)


class AuthenticationMiddleware(AdminOnly, middleware.AuthenticationMiddleware):
    pass


class MessageMiddleware(AdminOnly, middleware.MessageMiddleware):
    pass
