"""What every REST request passes before an endpoint sees it, as a plain ASGI middleware:
injected latency, JWT authentication (401; judged at the venue's possibly skewed clock, and an
injected ``auth`` fault refuses valid credentials), the rate limit (429 with ``x-ratelimit-*``
and ``Retry-After``, or bare with ``headers=0``), injected 5xx; and what happens to the response
afterwards: rate-limit headers, an injected timeout (the response held back), a malformed
body."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .auth import AuthError
from .context import API_PREFIX, SimContext, is_public, path_label
from .faults import Fault, RestFaults
from .limits import Verdict
from .wire import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def respond(
    send: Send, status: int, doc: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(doc).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def mangle(body: bytes, mode: str) -> bytes:
    if mode == "empty":
        return b""
    if mode == "garbage":
        return b"<html><body>502 Bad Gateway</body></html>"
    return body[: max(1, len(body) // 2)]


class Gate:
    def __init__(self, app: ASGIApp, ctx: SimContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope["sim.raw_send"] = send  # lets a fault drop the TCP connection (code 1006)
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        ctx = self.ctx
        label = path_label(path)
        method = scope["method"]
        public = is_public(path)
        faults = ctx.faults.for_request(method, path, public=public)
        if faults.latency_s:
            await asyncio.sleep(faults.latency_s)
        headers = dict(scope.get("headers") or [])
        if public:
            client = scope.get("client") or ("?", 0)
            verdict = ctx.public_limiter.check(str(client[0]))
        else:
            auth = headers.get(b"authorization", b"").decode("latin-1")
            host = headers.get(b"host", b"").decode("latin-1")
            token = auth[7:] if auth[:7].lower() == "bearer " else ""
            try:
                if faults.auth is not None:
                    raise AuthError("credentials refused (injected)")
                principal = ctx.keys.verify(
                    token, uri=f"{method} {host}{path}", skew_s=ctx.faults.skew_s()
                )
            except AuthError as exc:
                ctx.count(label, 401)
                await respond(send, 401, error_body("UNAUTHENTICATED", f"Unauthorized: {exc}"))
                return
            verdict = ctx.private_limiter.check(principal.key_name)
        if faults.rate_limit is not None:
            verdict = forced_limit(faults.rate_limit, verdict)
        if not verdict.allowed:
            ctx.count(label, 429)
            bare = faults.rate_limit is not None and not faults.rate_limit.params.get("headers", 1)
            retry = [(b"retry-after", f"{max(verdict.retry_after, 0.001):.3f}".encode())]
            await respond(
                send,
                429,
                error_body("RESOURCE_EXHAUSTED", "Too many requests"),
                [] if bare else verdict.headers() + retry,
            )
            return
        if faults.error is not None:
            status = int(faults.error.params["status"])
            ctx.count(label, status)
            code = "UNAVAILABLE" if status == 503 else "INTERNAL"
            await respond(send, status, error_body(code, f"injected {status}"), verdict.headers())
            return
        timeout = faults.timeout
        if timeout is not None and timeout.params["when"] == "before":
            await asyncio.sleep(float(timeout.params["seconds"]))
        await self._forward(scope, receive, send, verdict, faults, label)

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        verdict: Verdict,
        faults: RestFaults,
        label: str,
    ) -> None:
        ctx = self.ctx
        held: list[Message] = []
        hold = faults.malformed is not None or faults.timeout is not None
        status_box = [0]

        async def sender(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = int(message["status"])
                message["headers"] = [*message.get("headers", []), *verdict.headers()]
            if hold:
                held.append(message)
            else:
                await send(message)

        await self.app(scope, receive, sender)
        ctx.count(label, status_box[0])
        if not hold:
            return
        timeout = faults.timeout
        if timeout is not None and timeout.params["when"] == "after":
            await asyncio.sleep(float(timeout.params["seconds"]))
        if faults.malformed is not None:
            held = malformed(held, str(faults.malformed.params["mode"]))
        for message in held:
            await send(message)


def forced_limit(fault: Fault, verdict: Verdict) -> Verdict:
    wait = float(fault.params.get("retry_after", 1.0))
    return Verdict(False, verdict.limit or 30, 0, verdict.reset_at + wait, wait)


def malformed(messages: list[Message], mode: str) -> list[Message]:
    """The held response with its body mangled (content-length fixed to match)."""
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    bad = mangle(body, mode)
    start = next(m for m in messages if m["type"] == "http.response.start")
    headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(bad)).encode()))
    return [
        {**start, "headers": headers},
        {"type": "http.response.body", "body": bad},
    ]
