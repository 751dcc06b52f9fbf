"""URL resolution remembered per path (events/resolved_paths.py): the same answers as Django's,
a new match per request, nothing kept for a path that captured values, and a bounded memory."""

import pytest
from asgiref.testing import ApplicationCommunicator
from django.http import HttpResponse
from django.test import override_settings
from django.urls import Resolver404, URLResolver, get_resolver, path, re_path, register_converter
from django.urls.resolvers import RegexPattern

from events import resolved_paths
from events.request_handler import ASGIHandler


@pytest.fixture(autouse=True)
def forgotten():
    resolved_paths._remembered.clear()
    yield
    resolved_paths._remembered.clear()


async def get(url: str) -> bytes:
    scope = {"type": "http", "method": "GET", "path": url, "query_string": b"", "headers": []}
    scope |= {"server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1), "scheme": "http"}
    communicator = ApplicationCommunicator(ASGIHandler(), scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(5)
    body = await communicator.receive_output(5)
    await communicator.wait(5)
    assert start["status"] == 200, (start, body)
    return body["body"]


def view(request, **kwargs):
    return HttpResponse(request.resolver_match.view_name)


def other_view(request, **kwargs):
    return HttpResponse("other")


class Toggled:
    """A path converter whose answer changes over time: it accepts only while `accepting`."""

    regex = "[a-z]+"
    accepting = True

    def to_python(self, value):
        if not Toggled.accepting:
            raise ValueError(value)
        return value

    def to_url(self, value):
        return value


register_converter(Toggled, "toggled")

urlpatterns = [
    path("plain", view, {"extra": 1}, name="plain"),
    path("item/<int:pk>", view, name="item"),
    path("toggled/<toggled:word>", view, name="toggled"),
    path("toggled/<str:word>", other_view, name="fallback"),
    re_path(r"^static/.*$", view, name="static"),
]


def resolver() -> URLResolver:
    return URLResolver(RegexPattern(r"^/"), urlpatterns)


def test_a_path_that_captures_nothing_resolves_as_django_resolves_it():
    ours, djangos = resolved_paths.resolve(resolver(), "/plain"), resolver().resolve("/plain")
    for name in ("func", "args", "kwargs", "url_name", "route", "view_name", "_func_path"):
        assert getattr(ours, name) == getattr(djangos, name), name
    assert ours.kwargs == {"extra": 1}
    assert len(resolved_paths._remembered) == 1


def test_each_request_gets_its_own_match():
    urls = resolver()
    first = resolved_paths.resolve(urls, "/plain")
    first.kwargs["extra"] = 2
    first.namespaces.append("changed")
    second = resolved_paths.resolve(urls, "/plain")
    assert second is not first
    assert second.kwargs == {"extra": 1} and second.namespaces == []
    for name, value in vars(second).items():
        if isinstance(value, (dict, list)):
            assert value is not getattr(first, name), name


def test_a_path_that_captures_values_is_resolved_each_time():
    urls = resolver()
    assert resolved_paths.resolve(urls, "/item/7").kwargs == {"pk": 7}
    assert resolved_paths.resolve(urls, "/item/8").kwargs == {"pk": 8}
    assert not resolved_paths._remembered
    # A converter may answer differently later: the answer of the moment wins.
    assert resolved_paths.resolve(urls, "/toggled/word").url_name == "toggled"
    Toggled.accepting = False
    try:
        assert resolved_paths.resolve(urls, "/toggled/word").url_name == "fallback"
    finally:
        Toggled.accepting = True


def test_no_match_is_a_404_and_is_not_remembered():
    urls = resolver()
    for _ in range(2):
        with pytest.raises(Resolver404):
            resolved_paths.resolve(urls, "/nowhere")
    assert not resolved_paths._remembered


def test_invented_paths_never_grow_the_memory_past_its_bound():
    urls = resolver()
    for n in range(resolved_paths.REMEMBERED_PATHS * 3):
        assert resolved_paths.resolve(urls, f"/static/{n}").url_name == "static"
        assert len(resolved_paths._remembered) <= resolved_paths.REMEMBERED_PATHS
    assert resolved_paths.resolve(urls, "/plain").url_name == "plain"


def test_a_path_longer_than_a_route_is_resolved_each_time():
    urls = resolver()
    long = "/static/" + "x" * resolved_paths.REMEMBERED_PATH_CHARS
    for _ in range(2):
        assert resolved_paths.resolve(urls, long).url_name == "static"
    assert not resolved_paths._remembered


@pytest.mark.django_db
async def test_the_handler_walks_the_urlconf_once_for_a_path_however_many_requests(monkeypatch):
    """What saves the walk on every request (it fails without the memory)."""
    walks = []
    resolve = URLResolver.resolve

    def counted(self, path):
        if self is get_resolver():
            walks.append(path)
        return resolve(self, path)

    monkeypatch.setattr(URLResolver, "resolve", counted)
    for _ in range(5):
        assert await get("/healthz")
    assert walks == ["/healthz"]


@pytest.mark.django_db
async def test_a_changed_urlconf_is_resolved_afresh():
    assert await get("/healthz")  # the standalone's URLconf, remembered
    with override_settings(ROOT_URLCONF=__name__):
        assert await get("/plain") == b"plain"
    with override_settings(ROOT_URLCONF="tests.support.other_urls"):
        assert await get("/plain") == b"other"


class UrlconfPerRequest:
    """A middleware that sends each request to another URLconf, as django-hosts does."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.urlconf = "tests.support.other_urls"
        return self.get_response(request)


@pytest.mark.django_db
async def test_a_requests_own_urlconf_is_the_one_resolved():
    with override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=[f"{__name__}.UrlconfPerRequest"]):
        assert await get("/plain") == b"other"
        assert await get("/plain") == b"other"
