"""Run the simulator: ``SimServer`` in a background thread (tests, benchmarks) or ``serve`` in
the foreground (``perps-bot sim serve``). Both use uvicorn on a socket bound here, so port 0
picks a free port and the URL is known before the first request."""

from __future__ import annotations

import signal
import socket
import threading
import time
from typing import Any

from .app import create_app
from .context import SimContext

START_TIMEOUT_S = 10.0


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without
    # it keep-alive responses wait out the client's delayed ACK (about 40 ms each)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _config(ctx: SimContext, log_level: str) -> Any:
    import uvicorn

    return uvicorn.Config(
        create_app(ctx),
        log_level=log_level,
        access_log=False,
        lifespan="off",
        ws_ping_interval=None,
        timeout_graceful_shutdown=1,
    )


class SimServer:
    """The simulator on ``host``:``port`` (0: any free port) in a daemon thread."""

    def __init__(
        self, ctx: SimContext, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
    ) -> None:
        self.ctx = ctx
        self.host = host
        self._sock = bind(host, port)
        self.port = int(self._sock.getsockname()[1])
        self._log_level = log_level
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.address}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.address}/ws"

    def start(self) -> SimServer:
        import uvicorn

        self._server = uvicorn.Server(_config(self.ctx, self._log_level))
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"sim-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start on {self.address}")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(ctx: SimContext, *, host: str, port: int, log_level: str = "warning") -> None:
    """Serve in the foreground until SIGINT or SIGTERM, then return normally. (uvicorn handles
    the signal, shuts down, and raises it again once its own handlers are gone: ours turns that
    into the KeyboardInterrupt caught here.)"""
    import uvicorn

    sock = bind(host, port)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        uvicorn.Server(_config(ctx, log_level)).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
