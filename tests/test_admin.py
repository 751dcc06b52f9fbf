"""The admin's "Relay settings" and "Producer keys" pages, through Django's test client.

What an operator sees and saves; that a running server acts on it within seconds is
tests/test_admin_live.py's part.
"""

import hashlib
import re

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from events import producer_keys
from events.models import ProducerKey, RelaySettings

pytestmark = pytest.mark.django_db

SETTINGS_CHANGE = "admin:relayman_events_relaysettings_change"
KEYS_ADD = reverse("admin:relayman_events_producerkey_add")
KEYS_LIST = reverse("admin:relayman_events_producerkey_changelist")
KEY_PATTERN = re.compile(r"rmk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """admin_client's user is created per test: PBKDF2 would cost a third of a second each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def settings_form(**values) -> dict:
    """The Relay settings form as a browser posts it: empty fields unless given."""
    fields = ("allowed_origins", "require_producer_keys", "max_event_bytes", "idle_timeout")
    form = {name: "" for name in (*fields, "max_channels", "max_frame_bytes")}
    return {**form, **{name: str(value) for name, value in values.items()}}


def add_key(client, name="shop", prefixes="/shop/\n/outlets/1/", active=True):
    form = {"name": name, "source_prefixes": prefixes}
    if active:
        form["active"] = "on"
    return client.post(KEYS_ADD, form)


# Relay settings


def test_the_settings_list_opens_the_one_row(admin_client):
    response = admin_client.get(reverse("admin:relayman_events_relaysettings_changelist"))

    assert response.status_code == 302
    assert response["Location"] == reverse(SETTINGS_CHANGE, args=[1])
    assert RelaySettings.objects.count() == 1


def test_the_settings_page_says_what_an_empty_field_falls_back_to(admin_client, settings):
    settings.RELAYMAN_MAX_EVENT_BYTES = 4096
    settings.RELAYMAN_ALLOWED_ORIGINS = []
    settings.RELAYMAN_REQUIRE_PRODUCER_KEYS = False

    page = admin_client.get(reverse(SETTINGS_CHANGE, args=[RelaySettings.load().pk]))

    text = page.content.decode()
    assert page.status_code == 200
    # The admin renders help texts as HTML, choices as text.
    assert "Empty means the server's setting (4096)." in text
    assert "Empty means the server's setting (any origin)." in text
    assert "The server&#x27;s setting (no)" in text  # the empty choice of "require keys"


def test_saved_settings_become_the_admin_overrides(admin_client):
    url = reverse(SETTINGS_CHANGE, args=[RelaySettings.load().pk])

    response = admin_client.post(
        url,
        settings_form(
            allowed_origins="https://App.example.com/\nhttp://localhost:5173",
            require_producer_keys="True",
            max_event_bytes=2048,
            max_frame_bytes=2 * 1024 * 1024,
        ),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert RelaySettings.load().overrides() == {
        "ALLOWED_ORIGINS": ["https://app.example.com", "http://localhost:5173"],
        "REQUIRE_PRODUCER_KEYS": True,
        "MAX_EVENT_BYTES": 2048,
        "MAX_FRAME_BYTES": 2 * 1024 * 1024,
    }


def test_emptied_fields_go_back_to_the_server_settings(admin_client):
    row = RelaySettings.load()
    row.max_event_bytes, row.require_producer_keys = 10, True
    row.save()

    admin_client.post(reverse(SETTINGS_CHANGE, args=[row.pk]), settings_form())

    assert RelaySettings.load().overrides() == {}


def test_a_lone_star_allows_any_origin(admin_client):
    admin_client.post(
        reverse(SETTINGS_CHANGE, args=[RelaySettings.load().pk]),
        settings_form(allowed_origins="*"),
    )

    assert RelaySettings.load().overrides() == {"ALLOWED_ORIGINS": []}


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        (
            {"allowed_origins": "app.example.com"},
            "allowed_origins",
            "'app.example.com' is not an origin: write scheme://host[:port]",
        ),
        (
            {"allowed_origins": "https://app.example.com/path"},
            "allowed_origins",
            "'https://app.example.com/path' is not an origin",
        ),
        (
            {"allowed_origins": "*\nhttps://app.example.com"},
            "allowed_origins",
            "Write '*' alone to allow any origin",
        ),
        ({"max_event_bytes": 0}, "max_event_bytes", "greater than or equal to 1"),
        ({"idle_timeout": -5}, "idle_timeout", "greater than or equal to"),
        ({"idle_timeout": 0}, "idle_timeout", "greater than or equal to 1"),
        ({"max_channels": 0}, "max_channels", "greater than or equal to 1"),
        ({"max_channels": "many"}, "max_channels", "Enter a whole number."),
        ({"max_frame_bytes": 0}, "max_frame_bytes", "greater than or equal to 1"),
        ({"max_frame_bytes": -1}, "max_frame_bytes", "greater than or equal to"),
    ],
)
def test_invalid_settings_are_refused_with_the_reason(admin_client, values, field, message):
    row = RelaySettings.load()

    response = admin_client.post(reverse(SETTINGS_CHANGE, args=[row.pk]), settings_form(**values))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field]), errors
    assert RelaySettings.load().overrides() == {}


@pytest.mark.parametrize(
    "field", ["max_event_bytes", "idle_timeout", "max_channels", "max_frame_bytes"]
)
def test_the_database_refuses_a_zero_saved_outside_the_form(field):
    row = RelaySettings.load()
    setattr(row, field, 0)

    with pytest.raises(IntegrityError, match=f"relayman_relaysettings_{field}_positive"):
        with transaction.atomic():
            row.save()
    assert RelaySettings.load().overrides() == {}


def test_settings_can_be_neither_added_nor_deleted(admin_client):
    row = RelaySettings.load()

    assert admin_client.get(reverse("admin:relayman_events_relaysettings_add")).status_code == 403
    delete = reverse("admin:relayman_events_relaysettings_delete", args=[row.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert RelaySettings.objects.count() == 1


# Producer keys


def test_a_new_key_is_shown_once_and_only_its_hash_is_stored(admin_client):
    response = add_key(admin_client)

    assert response.status_code == 200
    shown = KEY_PATTERN.findall(response.content.decode())
    assert shown and set(shown) == {shown[0]}
    key = shown[0]
    stored = ProducerKey.objects.get(name="shop")
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in repr(list(ProducerKey.objects.values()))
    assert key.startswith(f"rmk_{stored.key_id}_")
    assert stored.record().source_prefixes == ("/shop/", "/outlets/1/")
    assert stored.active and stored.created is not None and stored.last_used is None

    change_page = admin_client.get(
        reverse("admin:relayman_events_producerkey_change", args=[stored.pk])
    )
    listing = admin_client.get(KEYS_LIST)
    for page in (change_page, listing):
        text = page.content.decode()
        assert key not in text
        assert producer_keys.display(stored.key_id) in text


def test_each_key_is_different(admin_client):
    first = KEY_PATTERN.search(add_key(admin_client, name="one").content.decode())[0]
    second = KEY_PATTERN.search(add_key(admin_client, name="two").content.decode())[0]

    assert first != second
    assert first[:20] != second[:20]  # the key ids too


def test_editing_a_key_keeps_its_hash(admin_client):
    add_key(admin_client)
    stored = ProducerKey.objects.get(name="shop")

    response = admin_client.post(
        reverse("admin:relayman_events_producerkey_change", args=[stored.pk]),
        {"name": "shop", "source_prefixes": "/shop/"},  # "active" unticked
    )

    assert response.status_code == 302
    edited = ProducerKey.objects.get(pk=stored.pk)
    assert (edited.key_id, edited.key_hash) == (stored.key_id, stored.key_hash)
    assert not edited.active
    assert edited.record().source_prefixes == ("/shop/",)


@pytest.mark.parametrize(
    ("prefixes", "message"),
    [
        ("", "This field is required."),
        ("*\n/shop/", "Write '*' alone to allow every source, or list prefixes."),
    ],
)
def test_invalid_prefixes_are_refused_with_the_reason(admin_client, prefixes, message):
    response = add_key(admin_client, prefixes=prefixes)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors["source_prefixes"]), errors
    assert not ProducerKey.objects.exists()


def test_two_keys_may_not_share_a_name(admin_client):
    add_key(admin_client)

    response = add_key(admin_client)

    assert "Producer key with this Name already exists." in response.content.decode()
    assert ProducerKey.objects.count() == 1
