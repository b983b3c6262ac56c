"""A local server that speaks Coinbase Advanced Trade (REST under ``/api/v3/brokerage`` and the
WebSocket feed at ``/ws``), backed by the matching engine, with fault injection.

- ``SimVenue``: the engine on its own clock, plus tape, ids and the order-change log.
- ``SimContext``: venue + accepted keys + faults + rate limiters (what handlers share).
- ``create_app(ctx)``: the ASGI app; ``SimServer``/``serve``: uvicorn around it.

FastAPI and uvicorn are imported here: import this package lazily (CLI handlers, tests).
"""

from .app import create_app
from .auth import AuthError, KeyRing
from .context import SimContext
from .faults import Fault, FaultError, FaultPlan, make_fault, parse_spec
from .runner import SimServer, serve
from .venue import DEFAULT_BALANCES, DEFAULT_SYMBOLS, SimVenue

__all__ = [
    "DEFAULT_BALANCES",
    "DEFAULT_SYMBOLS",
    "AuthError",
    "Fault",
    "FaultError",
    "FaultPlan",
    "KeyRing",
    "SimContext",
    "SimServer",
    "SimVenue",
    "create_app",
    "make_fault",
    "parse_spec",
    "serve",
]
