"""Telemetry: logging setup and the one redaction helper (metrics live beside them)."""

from .redaction import (
    REDACTED,
    clear_registered_secrets,
    is_secret_key,
    redact,
    redact_jsonable,
    redact_mapping,
    register_secret,
)

__all__ = [
    "REDACTED",
    "clear_registered_secrets",
    "is_secret_key",
    "redact",
    "redact_jsonable",
    "redact_mapping",
    "register_secret",
]
