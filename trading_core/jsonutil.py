"""JSON in and out of the store, health.json and reports: Decimal as strings, times as ISO UTC."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from datetime import datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from .clock import isoformat_z


def to_jsonable(value: Any) -> Any:
    """Turn domain values into plain JSON values (Decimal -> str, datetime -> ISO 'Z')."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, float):
        return value
    if isinstance(value, datetime):
        return isoformat_z(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(v) for v in items]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr
        }
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(value: Any, *, indent: int | None = None) -> str:
    return json.dumps(to_jsonable(value), indent=indent, sort_keys=indent is not None)


def atomic_write_text(path: Path, text: str, *, mode: int = 0o600, fsync: bool = True) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never half of one.
    Private (0600) unless ``mode`` says otherwise: what the bot writes is its operator's.

    ``fsync=False`` skips forcing the data to disk: still atomic for readers and across a process
    crash, but after a power loss the file may be empty. For files rewritten every cycle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
