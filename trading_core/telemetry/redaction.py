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
secret-looking key (``{"api_secret": "abc"}`` -> ``{"api_secret": "[REDACTED]"}``);
``redact_jsonable(obj)`` also turns the result into plain JSON values (for payloads and log fields).

Thread-safe: the registry is an immutable snapshot swapped under a lock. Fast on ordinary text: each
precompiled pattern only runs when a cheap substring test says it could match (about 1 µs for a
plain log line).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any
from urllib.parse import quote

from ..jsonutil import to_jsonable

REDACTED = "[REDACTED]"

#: Registered values shorter than this are ignored (masking "abc" everywhere would garble logs).
MIN_SECRET_LENGTH = 4
#: Lines of a multi-line registered secret (a PEM body) at least this long are masked on their own.
MIN_LINE_LENGTH = 16

_SECRET_WORDS = (
    r"secret|token|passw(?:or)?d|pwd|passphrase|api[_-]?key|apikey|private[_-]?key"
    r"|signature|credentials?|auth[_-]?key"
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
# Key-value pairs: matched from the secret word on (a prefix such as COINBASE_API_ stays visible);
# the key may go on after a separator (api_secret_b64, token.value) but not as a word ("tokens=5").
# _KV_LOWER runs on the lower-cased text (much faster than IGNORECASE); _KV is the fallback when
# lower-casing changes the length (some non-ASCII text).
_KV_BODY = (
    r"((?:" + _SECRET_WORDS + r")(?:[_.-][\w.-]*)?[\"']?\s*[:=]\s*)"
    r"(?!\[redacted\])(\"[^\"]*\"|'[^']*'|[^\s\"'&,;)}\]]+)"
)
_KV_LOWER = re.compile(_KV_BODY)
_KV = re.compile("(?i)" + _KV_BODY)
_SECRET_KEY = re.compile(r"(?i)" + _SECRET_WORDS + r"|webhook")


def _redact_kv(text: str, low: str) -> str:
    """Replace the values of secret-looking key-value pairs, keeping the key and any quotes."""
    if len(low) != len(text):
        matches = [(m.start(2), m.end(2)) for m in _KV.finditer(text)]
    else:
        matches = [(m.start(2), m.end(2)) for m in _KV_LOWER.finditer(low)]
    if not matches:
        return text
    parts: list[str] = []
    last = 0
    for start, end in matches:
        quote_char = text[start] if text[start] in ("'", '"') else ""
        parts.append(text[last:start])
        parts.append(f"{quote_char}{REDACTED}{quote_char}")
        last = end
    parts.append(text[last:])
    return "".join(parts)


class _Registry:
    """The registered secrets: an immutable (values, pattern) snapshot, replaced as a whole."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: frozenset[str] = frozenset()
        self.pattern: re.Pattern[str] | None = None
        self.generation = 0  # bumped on every change: keys the cache of short redactions

    def add(self, variants: set[str]) -> bool:
        with self._lock:
            values = self.values | variants
            if values == self.values:
                return False
            ordered = sorted(values, key=len, reverse=True)  # longest first: whole before parts
            pattern = re.compile("|".join(re.escape(v) for v in ordered))
            self.values, self.pattern = values, pattern
            self.generation += 1
            return True

    def clear(self) -> None:
        with self._lock:
            self.values, self.pattern = frozenset(), None
            self.generation += 1

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
    """``text`` with every secret replaced by ``[REDACTED]``; ordinary text comes back unchanged.
    Non-str input is converted with ``str`` first. Short strings (payload values such as symbols
    and statuses repeat a lot) are answered from a cache keyed by the registry's generation."""
    if not isinstance(text, str):
        text = str(text)
    if len(text) <= _CACHE_MAX_LEN:
        return _redact_cached(text, _registry.generation)
    return _redact(text)


#: Strings up to this length go through the cache.
_CACHE_MAX_LEN = 64


@functools.lru_cache(maxsize=8192)
def _redact_cached(text: str, generation: int) -> str:
    return _redact(text)


def _redact(text: str) -> str:
    if not text:
        return text
    values, pattern = _registry.snapshot()
    if pattern is not None and any(v in text for v in values):
        text = pattern.sub(REDACTED, text)
    low = text.lower()
    if "-----begin" in low:
        text = _PEM.sub(REDACTED, text)
    if "organizations/" in text:
        text = _KEY_NAME.sub(REDACTED, text)
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    if "bearer" in low or "basic" in low:
        text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    if "://" in text:
        text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    if "webhook" in low or "hooks.slack" in low:
        text = _WEBHOOK.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    if "=" in text and ("?" in text or "&" in text):
        text = _QUERY.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    if (
        "key" in low
        or "secret" in low
        or "token" in low
        or "pass" in low
        or "pwd" in low
        or "signature" in low
        or "credential" in low
    ):
        text = _redact_kv(text, text.lower())
    return text


@functools.lru_cache(maxsize=4096)
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
            if isinstance(key, str) and value is not None and value != "" and is_secret_key(key):
                result[key] = REDACTED
            else:
                result[key] = redact_mapping(value)
        return result
    if isinstance(obj, list):
        return [redact_mapping(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(redact_mapping(v) for v in obj)
    return obj


def redact_jsonable(obj: Any) -> Any:
    """``redact_mapping(to_jsonable(obj))`` in one pass: a JSON-ready copy (Decimal -> str, datetime
    -> ISO 'Z', enums -> values, tuples -> lists, keys -> str) with every string redacted and the
    value of every secret-looking key replaced. For event payloads and log fields."""
    kind = type(obj)
    if kind is str:
        return redact(obj)
    if kind is dict:
        return _redact_items(obj)
    if obj is None or kind is int or kind is float or kind is bool:
        return obj
    if kind is Decimal:
        return format(obj, "f") if obj.is_finite() else str(obj)
    if kind is list or kind is tuple:
        return [redact_jsonable(v) for v in obj]
    if isinstance(obj, Enum):
        return redact_jsonable(obj.value)
    if isinstance(obj, str):
        return redact(str(obj))
    if isinstance(obj, (bool, int, float)):
        return obj
    if isinstance(obj, Mapping):
        return _redact_items(obj)
    if isinstance(obj, (list, tuple)):
        return [redact_jsonable(v) for v in obj]
    return redact_mapping(to_jsonable(obj))


def _redact_items(obj: Mapping[Any, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in obj.items():
        name = key if type(key) is str else str(to_jsonable(key))
        if is_secret_key(name) and value is not None and value != "":
            result[name] = REDACTED
        else:
            result[name] = redact_jsonable(value)
    return result
