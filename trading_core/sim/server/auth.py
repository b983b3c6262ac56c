"""JWT verification as Coinbase does it: the key named in ``kid``/``sub`` must be known, the
signature valid (ES256 for EC P-256 keys, EdDSA for Ed25519), ``iss`` "cdp", ``nbf``/``exp``
current and, for REST, ``uri`` exactly "METHOD host/path" of the request being made."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from ...brokers.coinbase.keys import EDDSA, ES256, PublicKey, parse_private_key

LEEWAY_S = 5


class AuthError(Exception):
    """Why a token was refused (the 401's message; never echoes the token)."""


@dataclass(frozen=True, slots=True)
class Principal:
    key_name: str


class KeyRing:
    """The public keys the venue accepts, by key name."""

    def __init__(self) -> None:
        self._keys: dict[str, PublicKey] = {}
        self._lock = threading.Lock()

    def add_public(self, name: str, public_key: PublicKey) -> None:
        with self._lock:
            self._keys[name] = public_key

    def add_secret(self, name: str, secret: str) -> None:
        """Trust the key whose private half is ``secret`` (PEM or base64 Ed25519)."""
        self.add_public(name, parse_private_key(secret).public_key())

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, name: str) -> PublicKey | None:
        return self._keys.get(name)

    def verify(self, token: str, *, uri: str | None, skew_s: float = 0.0) -> Principal:
        """The principal ``token`` proves, or AuthError. ``uri`` None: a WebSocket token.
        ``skew_s``: the venue's clock runs that far off the wall clock (``nbf``/``exp`` are
        judged at its time)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None
        name = header.get("kid")
        if not isinstance(name, str):
            raise AuthError("token names no key (kid)")
        key = self.get(name)
        if key is None:
            raise AuthError("unknown API key")
        algorithm = ES256 if isinstance(key, ec.EllipticCurvePublicKey) else EDDSA
        if header.get("alg") != algorithm:
            raise AuthError(f"key signs {algorithm}, token says {header.get('alg')}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer="cdp",
                leeway=LEEWAY_S,
                options={
                    "require": ["exp", "nbf", "sub", "iss"],
                    "verify_exp": False,  # judged below, at the venue's clock
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token ({type(exc).__name__})") from None
        now = time.time() + skew_s
        try:
            exp, nbf = float(claims["exp"]), float(claims["nbf"])
        except (TypeError, ValueError):
            raise AuthError("invalid token (exp/nbf not numbers)") from None
        if exp <= now - LEEWAY_S:
            raise AuthError("token expired")
        if nbf > now + LEEWAY_S:
            raise AuthError("token not yet valid")
        if claims.get("sub") != name:
            raise AuthError("token subject is not its key")
        if exp - nbf > 300 or exp > now + 300:
            raise AuthError("token lives too long")
        if uri is not None and claims.get("uri") != uri:
            raise AuthError("token uri does not match the request")
        return Principal(name)
