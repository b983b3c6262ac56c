"""The one redaction helper: secrets never reach a log line, an event, a report or an error message.

``redact(text)`` replaces with ``[REDACTED]``:

- PEM private keys (``-----BEGIN ... PRIVATE KEY-----`` to the matching END, or to the end of the
  text when the END is cut off);
- Coinbase API key names (``organizations/{id}/apiKeys/{id}``);
- JWTs (``eyJ...``) and ``Bearer``/``Basic`` credentials;
- values of secret-looking keys: ``api_secret=...``, ``token: ...``, ``"password": "..."``,
  ``COINBASE_API_KEY=...`` (any key containing secret, token, password, passphrase, api_key,
  private_key, signature, credential);
- URL userinfo (``https://user:pass@host``), secret query parameters (``?token=``, ``&key=``,
  ``&X-Signature=``...) and webhook path tokens (Slack, Discord, ``/webhooks/<token>``);
- every value given to ``register_secret`` (the API secret, the webhook URL...), wherever it
  appears, also JSON-escaped or URL-encoded, and each long line of a multi-line secret.

``redact_mapping(obj)`` does the same through dicts/lists/tuples and replaces the whole value of a
secret-looking key (``{"api_secret": "abc"}`` -> ``{"api_secret": "[REDACTED]"}``).

Thread-safe: the registry is an immutable snapshot swapped under a lock. Fast on ordinary text: one
precompiled trigger search decides whether any pattern can match at all.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

REDACTED = "[REDACTED]"

#: Registered values shorter than this are ignored (masking "abc" everywhere would garble logs).
MIN_SECRET_LENGTH = 4
#: Lines of a multi-line registered secret (a PEM body) at least this long are masked on their own.
MIN_LINE_LENGTH = 16

_SECRET_WORDS = (
    r"secret|token|passw(?:or)?d|pwd|passphrase|api[_-]?key|apikey|private[_-]?key"
    r"|signature|credentials?|auth[_-]?key"
)

#: Cheap first pass: when this does not match, no pattern below can.
_TRIGGER = re.compile(
    r"-----BEGIN|organizations/|eyJ|://|"
    r"(?i:bearer|basic\s|" + _SECRET_WORDS + r"|[?&][\w.-]*(?:key|sig|auth)[\w.-]*=|webhook)"
)

_PEM = re.compile(
    r"-----BEGIN[ A-Z0-9]*PRIVATE KEY-----.*?(?:-----END[ A-Z0-9]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
_KEY_NAME = re.compile(r"organizations/[^/\s\"'\\]+/apiKeys/[^/\s\"',;\\)\]}]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{7,}\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?")
_BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+)(?!\[REDACTED\])[A-Za-z0-9._~+/=-]{6,}")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@:\"']+(?::[^/\s@\"']*)?@")
_WEBHOOK = re.compile(
    r"(?i)(https?://hooks\.slack\.com/(?:services|workflows|triggers)/"
    r"|https?://(?:[\w-]+\.)?discord(?:app)?\.com/api/webhooks/"
    r"|/webhooks?/)(?!\[REDACTED\])[A-Za-z0-9_/-]{8,}"
)
_QUERY = re.compile(
    r"(?i)([?&][\w.-]*(?:token|key|secret|sig|signature|passw(?:or)?d|auth|credential)[\w.-]*=)"
    r"(?!\[REDACTED\])[^&#\s\"']+"
)
_KV = re.compile(
    r"(?i)(\b[\w.-]*(?:" + _SECRET_WORDS + r")[\w.-]*[\"']?\s*[:=]\s*)"
    r"(?!\[REDACTED\])(\"[^\"]*\"|'[^']*'|[^\s\"'&,;)}\]]+)"
)
_SECRET_KEY = re.compile(r"(?i)" + _SECRET_WORDS + r"|webhook")


def _kv_replacement(match: re.Match[str]) -> str:
    value = match.group(2)
    if value[:1] in ("'", '"'):
        return f"{match.group(1)}{value[0]}{REDACTED}{value[0]}"
    return f"{match.group(1)}{REDACTED}"


class _Registry:
    """The registered secrets: an immutable (values, pattern) snapshot, replaced as a whole."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: frozenset[str] = frozenset()
        self.pattern: re.Pattern[str] | None = None

    def add(self, variants: set[str]) -> bool:
        with self._lock:
            values = self.values | variants
            if values == self.values:
                return False
            ordered = sorted(values, key=len, reverse=True)  # longest first: whole before parts
            pattern = re.compile("|".join(re.escape(v) for v in ordered))
            self.values, self.pattern = values, pattern
            return True

    def clear(self) -> None:
        with self._lock:
            self.values, self.pattern = frozenset(), None

    def snapshot(self) -> tuple[frozenset[str], re.Pattern[str] | None]:
        return self.values, self.pattern


_registry = _Registry()


def _variants(value: str) -> set[str]:
    variants = {value}
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    variants.add(escaped)
    variants.add(quote(value, safe=""))
    if "\n" in value:
        for line in value.splitlines():
            line = line.strip()
            if len(line) >= MIN_LINE_LENGTH and not line.startswith("-----"):
                variants.add(line)
    return {v for v in variants if len(v) >= MIN_SECRET_LENGTH}


def register_secret(value: str | None) -> bool:
    """Mask ``value`` wherever it appears from now on (also JSON-escaped / URL-encoded, and each
    line of a multi-line value). Returns False when nothing new was registered (None, empty,
    shorter than MIN_SECRET_LENGTH, or already known)."""
    if not value or not isinstance(value, str):
        return False
    value = value.strip()
    if len(value) < MIN_SECRET_LENGTH:
        return False
    return _registry.add(_variants(value))


def clear_registered_secrets() -> None:
    """Forget every registered value (for tests and for a runner that reloads its config)."""
    _registry.clear()


def redact(text: str) -> str:
    """``text`` with every secret replaced by ``[REDACTED]``; ordinary text comes back unchanged
    (the same object). Non-str input is converted with ``str`` first."""
    if not isinstance(text, str):
        text = str(text)
    if not text:
        return text
    values, pattern = _registry.snapshot()
    if pattern is not None and any(v in text for v in values):
        text = pattern.sub(REDACTED, text)
    if _TRIGGER.search(text) is None:
        return text
    text = _PEM.sub(REDACTED, text)
    text = _KEY_NAME.sub(REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    text = _WEBHOOK.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _QUERY.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _KV.sub(_kv_replacement, text)
    return text


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a secret (api_secret, token, password, webhook_url, ...)."""
    return _SECRET_KEY.search(key) is not None


def redact_mapping(obj: Any) -> Any:
    """A copy of ``obj`` with every string redacted, recursively through Mappings (to dict), lists
    and tuples; the whole value of a secret-looking key is replaced (unless it is None or empty).
    Other values (numbers, Decimals, datetimes, enums...) are returned as they are."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, Mapping):
        result: dict[Any, Any] = {}
        for key, value in obj.items():
            if (
                isinstance(key, str)
                and value is not None
                and value != ""
                and _SECRET_KEY.search(key) is not None
            ):
                result[key] = REDACTED
            else:
                result[key] = redact_mapping(value)
        return result
    if isinstance(obj, list):
        return [redact_mapping(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(redact_mapping(v) for v in obj)
    return obj
