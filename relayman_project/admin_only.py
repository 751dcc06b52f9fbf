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

    Another request goes straight to the next layer: in an async chain, the coroutine of that
    layer is returned for the caller to await, with none of this layer's own around it.
    """

    def __call__(self, request):
        if for_the_admin(request):
            return super().__call__(request)
        return self.get_response(request)


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
