"""The ASGI app: Coinbase's REST endpoints and WebSocket feed, plus the loopback-only admin
endpoints tests and operators use to inspect the venue and switch faults on and off.

Admin (``/sim/...``, refused with 403 unless the client is on loopback):

- ``GET /sim/state``: venue counters (orders, fills, time), requests by status, faults
- ``POST /sim/faults``: add fault rules (one JSON object or ``{"rules": [...]}``)
- ``DELETE /sim/faults``: clear them
- ``POST /sim/clock``: ``{"advance_s": N}`` moves a virtual clock (wall clock: 409)
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ...clock import VirtualClock
from .context import SimContext
from .faults import FaultError, make_fault
from .gate import Gate
from .rest import router
from .ws import feed_endpoint

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost", "testclient"})


def _loopback(request: Request) -> bool:
    client = request.client
    return client is not None and client.host in LOOPBACK


def _forbidden() -> JSONResponse:
    return JSONResponse({"error": "PERMISSION_DENIED", "message": "admin is loopback only"}, 403)


async def sim_state(request: Request) -> JSONResponse:
    if not _loopback(request):
        return _forbidden()
    ctx: SimContext = request.app.state.sim
    return JSONResponse(ctx.snapshot())


async def add_faults(request: Request) -> JSONResponse:
    if not _loopback(request):
        return _forbidden()
    ctx: SimContext = request.app.state.sim
    try:
        doc: Any = await request.json()
    except ValueError:
        return JSONResponse({"error": "INVALID_ARGUMENT", "message": "body is not JSON"}, 400)
    rules = doc.get("rules") if isinstance(doc, dict) and "rules" in doc else [doc]
    try:
        faults = [make_fault(rule) for rule in rules]
    except FaultError as exc:
        return JSONResponse({"error": "INVALID_ARGUMENT", "message": str(exc)}, 400)
    for fault in faults:
        ctx.faults.add(fault)
    return JSONResponse({"faults": ctx.faults.rules()})


async def clear_faults(request: Request) -> JSONResponse:
    if not _loopback(request):
        return _forbidden()
    ctx: SimContext = request.app.state.sim
    ctx.faults.clear()
    return JSONResponse({"faults": []})


async def move_clock(request: Request) -> JSONResponse:
    if not _loopback(request):
        return _forbidden()
    ctx: SimContext = request.app.state.sim
    clock = ctx.venue.clock
    if not isinstance(clock, VirtualClock):
        return JSONResponse({"error": "FAILED_PRECONDITION", "message": "wall clock"}, 409)
    try:
        seconds = float((await request.json()).get("advance_s", 0))
        clock.advance(seconds)
    except (ValueError, TypeError, AttributeError) as exc:
        return JSONResponse({"error": "INVALID_ARGUMENT", "message": str(exc)}, 400)
    ctx.venue.sync()
    return JSONResponse({"time": ctx.venue.now.isoformat()})


def create_app(ctx: SimContext) -> Any:
    """The ASGI application serving ``ctx``'s venue."""
    app = FastAPI(title="GPT-Trader Coinbase simulator", openapi_url=None, docs_url=None)
    app.state.sim = ctx
    app.include_router(router)
    app.add_api_route("/sim/state", sim_state, methods=["GET"], include_in_schema=False)
    app.add_api_route("/sim/faults", add_faults, methods=["POST"], include_in_schema=False)
    app.add_api_route("/sim/faults", clear_faults, methods=["DELETE"], include_in_schema=False)
    app.add_api_route("/sim/clock", move_clock, methods=["POST"], include_in_schema=False)
    app.add_api_websocket_route("/ws", feed_endpoint)
    return Gate(app, ctx)
