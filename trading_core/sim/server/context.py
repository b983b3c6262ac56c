"""What the server's handlers share: the venue, the accepted keys, the fault plan, the rate
limiters, request counters and the open WebSocket sessions."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ...brokers.coinbase.paths import API_PREFIX, endpoint_label
from .auth import KeyRing
from .faults import FaultPlan
from .limits import SlidingWindowLimiter
from .venue import SimVenue

PUBLIC_PATHS = (f"{API_PREFIX}/time", f"{API_PREFIX}/market/")
PRIVATE_LIMIT = 30  # requests per second per key, as Coinbase
PUBLIC_LIMIT = 10  # per client address


@dataclass
class SimContext:
    venue: SimVenue
    keys: KeyRing = field(default_factory=KeyRing)
    faults: FaultPlan = field(default_factory=FaultPlan)
    private_limiter: SlidingWindowLimiter = field(
        default_factory=lambda: SlidingWindowLimiter(PRIVATE_LIMIT)
    )
    public_limiter: SlidingWindowLimiter = field(
        default_factory=lambda: SlidingWindowLimiter(PUBLIC_LIMIT)
    )
    tick_s: float = 0.1  # WebSocket publishers look for changes this often
    heartbeat_s: float = 1.0
    book_depth: int = 25  # level2 levels per side
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    sessions: set[Any] = field(default_factory=set)
    ws_connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, label: str, status: int) -> None:
        with self.lock:
            self.requests[(label, status)] += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            by_status: Counter[int] = Counter()
            for (_, status), n in self.requests.items():
                by_status[status] += n
            requests = {str(k): v for k, v in sorted(by_status.items())}
        return {
            **self.venue.state(),
            "requests": requests,
            "ws_sessions": len(self.sessions),
            "ws_connections": self.ws_connections,
            "faults": self.faults.rules(),
            "faults_applied": dict(self.faults.applied),
        }


def is_public(path: str) -> bool:
    return path == PUBLIC_PATHS[0] or path.startswith(PUBLIC_PATHS[1])


def path_label(path: str) -> str:
    """A route-shaped label for counters (ids replaced by ``{id}``), as the adapter names them."""
    return endpoint_label(path)
