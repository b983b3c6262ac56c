"""Client order ids: derived from the decision, so retrying the same decision reuses the same id
(and the venue returns the existing order instead of placing a second one)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from ..clock import isoformat_z


def client_order_id(
    namespace: str, decided_at: datetime, symbol: str, side: str, purpose: str
) -> str:
    """A UUID-shaped id unique to (namespace, decision time, symbol, side, purpose)."""
    key = f"{namespace}|{isoformat_z(decided_at)}|{symbol}|{side}|{purpose}".encode()
    return str(uuid.UUID(bytes=hashlib.sha256(key).digest()[:16], version=4))
