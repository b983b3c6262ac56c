"""Coinbase API keys: load them from settings, validate them, sign JWTs with them.

A CDP key is a name (``organizations/{org}/apiKeys/{id}``, or an id) and a private key: an EC
P-256 key as PEM (signs ES256) or an Ed25519 key, as PEM or as Coinbase prints it (base64 of the
32-byte seed followed by the 32-byte public key; signs EdDSA). ES256 tokens come from the SDK's
``jwt_generator``; the SDK 1.7 only knows ES256, so EdDSA tokens are built here with the same
claims (``sub``, ``iss=cdp``, ``nbf``, ``exp=nbf+120``, ``uri`` for REST) and headers.

Errors name the variable (COINBASE_API_KEY, COINBASE_API_SECRET, COINBASE_KEY_FILE), never a
value; every secret is registered with the redaction helper as soon as it is loaded.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import stat
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ...errors import ConfigError
from ...telemetry.redaction import register_secret

if TYPE_CHECKING:
    from ...config.settings import CoinbaseSettings

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
JWT_LIFETIME_S = 120
ES256 = "ES256"
EDDSA = "EdDSA"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A loaded key. ``secret`` is the normalized private key text the SDK is given."""

    name: str
    secret: str = field(repr=False)
    private_key: PrivateKey = field(repr=False)

    @property
    def algorithm(self) -> str:
        return EDDSA if isinstance(self.private_key, ed25519.Ed25519PrivateKey) else ES256

    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    def __str__(self) -> str:
        return f"ApiKey({self.algorithm})"


def normalize_secret(text: str) -> str:
    """The key text as written in a .env or shell: surrounding quotes dropped, literal ``\\n``
    turned into newlines (the SDK does the same)."""
    value = text.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].strip()
    return value.replace("\\n", "\n").strip()


def parse_private_key(secret: str) -> PrivateKey:
    """An EC P-256 or Ed25519 private key from PEM or Coinbase's base64 Ed25519 form.
    ValueError (saying what is wrong, never the value) otherwise."""
    text = normalize_secret(secret)
    if "-----BEGIN" in text:
        try:
            key = serialization.load_pem_private_key(text.encode("utf-8"), password=None)
        except (ValueError, TypeError):
            raise ValueError("not a readable unencrypted PEM private key") from None
        if isinstance(key, ec.EllipticCurvePrivateKey):
            if not isinstance(key.curve, ec.SECP256R1):
                raise ValueError(f"EC key on {key.curve.name}; Coinbase keys use P-256")
            return key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key
        raise ValueError("PEM key is neither EC P-256 nor Ed25519")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("neither a PEM private key nor a base64 Ed25519 key") from None
    if len(raw) not in (32, 64):
        raise ValueError("a base64 Ed25519 key holds 32 or 64 bytes")
    return ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])


def make_api_key(name: str, secret: str, *, name_var: str, secret_var: str) -> ApiKey:
    """Validate a key name and secret; ConfigError naming the variable on any problem."""
    name = name.strip()
    if not name:
        raise ConfigError(f"{name_var}: empty")
    if any(c.isspace() for c in name):
        raise ConfigError(f"{name_var}: malformed (a key name has no spaces)")
    register_secret(name)
    register_secret(secret)
    normalized = normalize_secret(secret)
    register_secret(normalized)
    try:
        private_key = parse_private_key(normalized)
    except ValueError as exc:
        raise ConfigError(f"{secret_var}: malformed ({exc})") from None
    return ApiKey(name=name, secret=normalized, private_key=private_key)


def load_api_key(settings: CoinbaseSettings, *, profile: str = "") -> ApiKey:
    """The key a Coinbase profile trades with: COINBASE_API_KEY + COINBASE_API_SECRET, or
    COINBASE_KEY_FILE (Coinbase's JSON download: ``name`` and ``privateKey``)."""
    key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    secret = settings.api_secret.get_secret_value() if settings.api_secret is not None else None
    if key or secret:
        if settings.key_file is not None:
            raise ConfigError(
                "COINBASE_KEY_FILE: set together with COINBASE_API_KEY/COINBASE_API_SECRET; "
                "use one or the other"
            )
        if not key:
            raise ConfigError("COINBASE_API_KEY: not set (COINBASE_API_SECRET is)")
        if not secret:
            raise ConfigError("COINBASE_API_SECRET: not set (COINBASE_API_KEY is)")
        return make_api_key(
            key, secret, name_var="COINBASE_API_KEY", secret_var="COINBASE_API_SECRET"
        )
    if settings.key_file is not None:
        return read_key_file(settings.key_file)
    who = f"profile {profile!r} trades on Coinbase" if profile else "Coinbase needs a key"
    raise ConfigError(
        f"COINBASE_API_KEY: not set ({who}: set COINBASE_API_KEY and COINBASE_API_SECRET, "
        "or COINBASE_KEY_FILE)"
    )


def read_key_file(path: Path) -> ApiKey:
    """The key in Coinbase's JSON download. Refused (before a byte of it is read) when anyone
    but its owner may read or write it: a live profile does not start on an exposed key."""
    var = "COINBASE_KEY_FILE"
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"{var}: {path} is {mode:04o}, open to group or others; "
                f"refusing to use it (chmod 600 {path})"
            )
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{var}: cannot read {path}: {exc.strerror or exc}") from None
    register_secret(text)
    try:
        doc = json.loads(text)
    except ValueError:
        raise ConfigError(f"{var}: {path} is not JSON") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{var}: {path} must hold a JSON object with name and privateKey")
    name, secret = doc.get("name"), doc.get("privateKey")
    if not isinstance(name, str) or not isinstance(secret, str):
        raise ConfigError(f"{var}: {path} lacks name or privateKey")
    return make_api_key(name, secret, name_var=f"{var} name", secret_var=f"{var} privateKey")


def build_jwt(key: ApiKey, uri: str | None = None) -> str:
    """A fresh JWT for ``uri`` ("METHOD host/path", REST) or without it (WebSocket)."""
    if key.algorithm == ES256:
        from coinbase import jwt_generator

        if uri is None:
            return str(jwt_generator.build_ws_jwt(key.name, key.secret))
        return str(jwt_generator.build_rest_jwt(uri, key.name, key.secret))
    import jwt

    now = int(time.time())
    claims: dict[str, Any] = {"sub": key.name, "iss": "cdp", "nbf": now, "exp": now + 120}
    if uri is not None:
        claims["uri"] = uri
    headers = {"kid": key.name, "nonce": secrets.token_hex()}
    return jwt.encode(claims, key.private_key, algorithm=EDDSA, headers=headers)


# --- throwaway keys (tests, the simulator, benchmarks) --------------------------------------
def generate_key(kind: str = "ec", name: str | None = None) -> tuple[str, str]:
    """A new (name, secret): ``kind`` "ec" gives a P-256 TraditionalOpenSSL PEM, "ed25519" the
    base64 64-byte form Coinbase prints."""
    name = name or f"organizations/{uuid.uuid4()}/apiKeys/{uuid.uuid4()}"  # CDP-shaped
    if kind == "ec":
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        return name, pem.decode("ascii")
    if kind == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
        seed = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return name, base64.b64encode(seed + public).decode("ascii")
    raise ValueError(f"unknown key kind {kind!r} (ec or ed25519)")


def write_key_file(path: Path, name: str, secret: str) -> Path:
    """Write a key in Coinbase's download format, readable by the owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"name": name, "privateKey": secret}, handle)
    return path
