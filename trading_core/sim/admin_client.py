"""The simulator's admin endpoints (``/sim/faults``, ``/sim/state``, ``/sim/clock``) from the
client side: one JSON request. Stdlib only, so ``perps-bot sim fault`` stays light."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def admin_request(base_url: str, method: str, path: str, body: Any = None) -> Any:
    """``method path`` on the simulator at ``base_url`` with ``body`` as JSON; the decoded JSON
    answer (None for an empty one). urllib's HTTPError/URLError propagate."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base_url.rstrip("/") + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"null")
