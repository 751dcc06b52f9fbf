"""What an operator manages in the admin: the relay's settings and the producers' keys.

The relay never reads these per request: `events.snapshot` mirrors them in memory.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from . import config, producer_keys, subscriber_tokens

ANY_ORIGIN = "*"
# Relay settings that make no sense at zero or below (a zero idle timeout closes every socket at
# once): refused by the admin's form and, whoever writes the row, by the database.
POSITIVE_FIELDS = (
    "max_event_bytes",
    "idle_timeout",
    "max_channels",
    "max_frame_bytes",
    "history_seconds",
)


def parse_origins(text: str) -> list[str]:
    """Allowed origins from the admin's text, one per line; a lone `*` means any origin."""
    origins = [line.strip().rstrip("/").lower() for line in text.splitlines() if line.strip()]
    return [] if origins == [ANY_ORIGIN] else origins


def validate_origins(text: str) -> None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if ANY_ORIGIN in lines and len(lines) > 1:
        raise ValidationError("Write '*' alone to allow any origin, or list origins without it.")
    for line in lines:
        problem = None if line == ANY_ORIGIN else config.origin_problem(line)
        if problem:
            raise ValidationError(problem)


def validate_prefixes(text: str) -> None:
    prefixes = producer_keys.parse_prefixes(text)
    if not prefixes:
        raise ValidationError(f"List at least one source prefix, or '{producer_keys.ANY_SOURCE}'.")
    if producer_keys.ANY_SOURCE in prefixes and len(prefixes) > 1:
        raise ValidationError(
            f"Write '{producer_keys.ANY_SOURCE}' alone to allow every source, or list prefixes."
        )


class RelaySettings(models.Model):
    """The single row of admin-managed settings. An empty field keeps the server's setting."""

    allowed_origins = models.TextField(
        blank=True,
        default="",
        validators=[validate_origins],
        help_text="WebSocket origins allowed at the handshake, one per line "
        "(https://app.example.com), or * for any origin.",
    )
    require_producer_keys = models.BooleanField(
        null=True,
        blank=True,
        choices=[(True, "Yes: POST /events needs a producer key"), (False, "No")],
        help_text="Whether producers must send their key in an Authorization: Bearer header.",
    )
    max_event_bytes = models.PositiveIntegerField(
        "maximum event size",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Largest accepted POST /events body in bytes (one event or a whole batch).",
    )
    idle_timeout = models.PositiveIntegerField(
        "socket idle timeout",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Seconds without any frame from a client before its socket is closed.",
    )
    max_channels = models.PositiveIntegerField(
        "channels per socket",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Channels one socket may join at once.",
    )
    max_frame_bytes = models.PositiveIntegerField(
        "maximum frame size",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Largest accepted WebSocket frame from a client, in bytes.",
    )
    private_sources = models.TextField(
        blank=True,
        default="",
        validators=[validate_prefixes],
        help_text="Sources a socket may join only with a subscriber token (or the join "
        "authorizer's yes): source prefixes, one per line, or * for every source.",
    )
    history_size = models.PositiveIntegerField(
        "history size",
        null=True,
        blank=True,
        help_text="Events kept per source for clients catching up after a reconnect; 0 is off.",
    )
    history_seconds = models.PositiveIntegerField(
        "history age",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Seconds an event is kept at most for clients catching up.",
    )
    history_sources = models.TextField(
        "history source prefixes",
        blank=True,
        default="",
        validators=[validate_prefixes],
        help_text="One per line: the sources starting with one of them keep history; * alone "
        "means every source.",
    )
    updated = models.DateTimeField(auto_now=True)

    SINGLETON_PK = 1

    class Meta:
        verbose_name = verbose_name_plural = "relay settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": 1}),
                name=f"relayman_relaysettings_{field}_positive",
                violation_error_message=f"{field} must be empty or at least 1",
            )
            for field in POSITIVE_FIELDS
        ]

    def __str__(self) -> str:
        return "Relay settings"

    def save(self, *args, **kwargs):
        self.pk = self.SINGLETON_PK
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "RelaySettings":
        return cls.objects.get_or_create(pk=cls.SINGLETON_PK)[0]

    def overrides(self) -> dict:
        """The values saved here, keyed by `events.config` name; unset fields are left out."""
        values = {
            "ALLOWED_ORIGINS": parse_origins(self.allowed_origins)
            if self.allowed_origins.strip()
            else None,
            "REQUIRE_PRODUCER_KEYS": self.require_producer_keys,
            "MAX_EVENT_BYTES": self.max_event_bytes,
            "IDLE_TIMEOUT": self.idle_timeout,
            "MAX_CHANNELS": self.max_channels,
            "MAX_FRAME_BYTES": self.max_frame_bytes,
            "PRIVATE_SOURCES": producer_keys.parse_prefixes(self.private_sources) or None,
            "HISTORY_SIZE": self.history_size,
            "HISTORY_SECONDS": self.history_seconds,
            "HISTORY_SOURCES": producer_keys.parse_prefixes(self.history_sources) or None,
        }
        return {name: value for name, value in values.items() if value is not None}


class ProducerKey(models.Model):
    """A producer's key: only its hash is stored; the key itself is shown once, when created."""

    name = models.CharField(max_length=100, unique=True, help_text="Who uses this key.")
    key_id = models.CharField(max_length=producer_keys.KEY_ID_CHARS, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    source_prefixes = models.TextField(
        "allowed source prefixes",
        validators=[validate_prefixes],
        help_text="One per line: the key may publish events whose source starts with one of "
        "them (end a prefix with / to stop at a path segment). * allows every source.",
    )
    active = models.BooleanField(default=True, help_text="Untick to revoke the key.")
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="To the minute."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def issue(self) -> str:
        """Give this record a new key and return it; only its hash is kept."""
        key, self.key_id = producer_keys.new_key()
        self.key_hash = producer_keys.hash_key(key)
        return key

    def record(self) -> producer_keys.KeyRecord:
        return producer_keys.KeyRecord(
            key_id=self.key_id,
            name=self.name,
            key_hash=self.key_hash,
            source_prefixes=producer_keys.parse_prefixes(self.source_prefixes),
            active=self.active,
        )


class SubscriberKey(models.Model):
    """A key that verifies subscriber tokens whose `kid` header names it: added for rotation,
    beside the server's RELAYMAN_SUBSCRIBER_JWT_SECRET and RELAYMAN_SUBSCRIBER_JWT_PUBLIC_KEY."""

    key_id = models.CharField(
        "key id",
        max_length=64,
        unique=True,
        help_text="The kid header of the tokens this key verifies.",
    )
    algorithm = models.CharField(
        max_length=5,
        choices=[(name, name) for name in subscriber_tokens.ALGORITHMS],
        default="HS256",
        help_text="HS256: a shared secret. RS256 or ES256: the public key of a pair whose "
        "private key signs the tokens.",
    )
    key = models.TextField(
        help_text=f"HS256: the secret, at least {subscriber_tokens.MIN_SECRET_BYTES} bytes. "
        "RS256 or ES256: the public key in PEM (-----BEGIN PUBLIC KEY-----).",
    )
    active = models.BooleanField(default=True, help_text="Untick to stop accepting its tokens.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key_id"]

    def __str__(self) -> str:
        return self.key_id

    def clean(self):
        problem = subscriber_tokens.key_problem(self.algorithm, self.key)
        if problem:
            raise ValidationError({"key": problem})

    def record(self) -> subscriber_tokens.SubscriberKey:
        return subscriber_tokens.SubscriberKey(
            key_id=self.key_id, algorithm=self.algorithm, material=self.key, active=self.active
        )
