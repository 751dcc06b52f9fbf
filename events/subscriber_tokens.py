"""Subscriber tokens as plain values, free of Django: verifying and minting them with PyJWT.

A subscriber token is a JWT (RFC 7519) that an application's backend mints for one of its users:
claim `sources` lists the source prefixes the bearer may join (`*` alone: any), claim `exp` is
required. Each key verifies with its own algorithm only (the algorithms list never holds another,
so neither `none` nor an HS256 token "signed" with an RS256 public key gets through). A token's
`kid` header picks a key from the keyring; a token without one is tried with the keyring's
default key of its algorithm. Error messages say why a token was refused, never the token.
"""

import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import get_default_algorithms

from .producer_keys import ANY_SOURCE, covers

ALGORITHMS = ("HS256", "RS256", "ES256")
# Clock skew tolerated between the minting backend and the relay, for `exp` and `nbf`.
LEEWAY_SECONDS = 30
# HS256 secrets shorter than its hash are guessable offline from any token (RFC 7518 §3.2).
MIN_SECRET_BYTES = 32


class TokenRefused(Exception):
    """A token that lets nobody in; the message says why and never quotes the token."""

    def __init__(self, reason: str, *, expired: bool = False):
        super().__init__(reason)
        self.expired = expired


@dataclass(frozen=True)
class SubscriberKey:
    """One verification key: an HS256 secret, or the PEM public key of an RS256/ES256 pair."""

    key_id: str  # "" for the server's default keys (RELAYMAN_SUBSCRIBER_JWT_*)
    algorithm: str
    material: str = field(repr=False)
    active: bool = True

    def prepared(self):
        """The key as PyJWT verifies with it: parsed once, not per token."""
        return get_default_algorithms()[self.algorithm].prepare_key(self.material)


@dataclass(frozen=True)
class Grant:
    """What a valid token allows: joining sources under `sources`, until `expires_at`."""

    sources: tuple[str, ...]
    expires_at: float  # seconds since the epoch, as `exp`

    def covers(self, source: str) -> bool:
        return covers(self.sources, source)


class Keyring:
    """The keys in force, each prepared once; `verify` judges a token against them."""

    def __init__(self, keys: Iterable[SubscriberKey], audience: str = ""):
        self.audience = audience or None
        self._by_id: dict[str, tuple[SubscriberKey, object]] = {}
        self._defaults: dict[str, object] = {}
        for key in keys:
            if not key.active:
                continue
            if key.key_id:
                self._by_id[key.key_id] = (key, key.prepared())
            else:
                self._defaults[key.algorithm] = key.prepared()

    def __bool__(self) -> bool:
        return bool(self._by_id or self._defaults)

    def verify(self, token: str) -> Grant:
        """The grant a token carries, or `TokenRefused` saying why."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRefused("the token is not a JWT") from None
        algorithm, key_id = header.get("alg"), header.get("kid")
        if key_id is not None:
            found = self._by_id.get(key_id) if isinstance(key_id, str) else None
            if found is None:
                raise TokenRefused("the token's kid names no active subscriber key")
            key, prepared = found
            algorithm = key.algorithm
        else:
            prepared = self._defaults.get(algorithm) if isinstance(algorithm, str) else None
            if prepared is None:
                raise TokenRefused(f"no subscriber key verifies {_quoted(algorithm)} tokens")
        try:
            claims = jwt.decode(
                token,
                prepared,
                algorithms=[algorithm],
                audience=self.audience,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp"], "verify_iat": False},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused("the token has expired", expired=True) from None
        except jwt.ImmatureSignatureError:
            raise TokenRefused("the token is not valid yet (nbf)") from None
        except jwt.MissingRequiredClaimError as missing:
            raise TokenRefused(f"the token has no '{missing.claim}' claim") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused("the token's aud is not this relay's audience") from None
        except jwt.InvalidAlgorithmError:
            raise TokenRefused(f"the key does not verify {_quoted(header.get('alg'))}") from None
        except jwt.InvalidSignatureError:
            raise TokenRefused("the token's signature does not verify") from None
        except jwt.PyJWTError as invalid:
            raise TokenRefused(f"the token is invalid ({type(invalid).__name__})") from None
        problem = sources_problem(claims.get("sources"))
        if problem is not None:
            raise TokenRefused(problem)
        return Grant(tuple(claims["sources"]), float(claims["exp"]))


def mint(sources: Iterable[str], expires_in: float, key: SubscriberKey, audience: str = "") -> str:
    """A token for `sources` (prefixes, or `*` alone), valid for `expires_in` seconds."""
    if key.algorithm != "HS256":
        raise ValueError(
            f"the subscriber key {key.key_id or '(default)'} is {key.algorithm}: only its "
            "private key, which the relay never holds, can sign; mint with HS256 keys here"
        )
    sources = list(sources)
    problem = sources_problem(sources)  # the same rules as for a presented token
    if problem is not None:
        raise ValueError(problem)
    if expires_in <= 0:
        raise ValueError("expires_in must be a positive number of seconds")
    claims = {"sources": sources, "exp": int(time.time() + expires_in)}
    if audience:
        claims["aud"] = audience
    headers = {"kid": key.key_id} if key.key_id else None
    return jwt.encode(claims, key.material, algorithm="HS256", headers=headers)


def sources_problem(sources) -> str | None:
    """Why a `sources` claim is unusable, or None."""
    if not isinstance(sources, list) or not sources:
        return "the token's 'sources' claim must be a non-empty list of source prefixes"
    if not all(isinstance(prefix, str) and prefix for prefix in sources):
        return "the token's 'sources' claim must hold non-empty strings only"
    if ANY_SOURCE in sources and len(sources) > 1:
        return f"the token's 'sources' claim must hold '{ANY_SOURCE}' alone"
    return None


def _quoted(value) -> str:
    text = repr(value)
    return text if len(text) <= 20 else text[:17] + "..."


def key_problem(algorithm: str, material: str) -> str | None:
    """Why `material` cannot verify `algorithm` tokens, or None."""
    if algorithm not in ALGORITHMS:
        return f"the algorithm must be one of {', '.join(ALGORITHMS)}; got {_quoted(algorithm)}"
    if algorithm == "HS256":
        if len(material.encode("utf-8", "surrogatepass")) < MIN_SECRET_BYTES:
            return f"an HS256 secret must be at least {MIN_SECRET_BYTES} bytes long"
        if "-----BEGIN" in material:
            return "an HS256 secret must not be a PEM key (that would invite HS/RS confusion)"
        return None
    if "PRIVATE KEY" in material:
        return "give the public key: the private key stays with the backend that mints tokens"
    try:
        SubscriberKey("", algorithm, material).prepared()
    except (jwt.InvalidKeyError, ValueError, TypeError):
        family = "an RSA" if algorithm == "RS256" else "a P-256 EC"
        return f"{algorithm} needs {family} public key in PEM (-----BEGIN PUBLIC KEY-----)"
    return None


@functools.cache
def public_key_file(path: str) -> SubscriberKey:
    """The default public key, read once from its PEM file; its type names its algorithm."""
    try:
        material = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as unreadable:
        raise ValueError(f"cannot read {path!r} ({type(unreadable).__name__})") from None
    try:
        public = serialization.load_pem_public_key(material.encode())
    except ValueError:
        raise ValueError(f"{path!r} holds no PEM public key (-----BEGIN PUBLIC KEY-----)") from None
    if isinstance(public, rsa.RSAPublicKey):
        return SubscriberKey("", "RS256", material)
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1":
        return SubscriberKey("", "ES256", material)
    raise ValueError(f"{path!r} is neither an RSA nor a P-256 EC public key")
