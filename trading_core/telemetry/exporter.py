"""The standalone metrics exporter: serves the bot's metrics snapshot file over HTTP for a bot that
runs elsewhere (``scripts/monitoring/export_metrics.py --metrics-file PATH [--port 9102]``).

It never serves old numbers as fresh: on every scrape it reads the snapshot, and when the snapshot
is older than ``--stale-after`` seconds (or missing, or unreadable) it withholds the bot's metrics
and says so::

    perps_bot_snapshot_up 0                      # 1 when fresh (the bot's metrics follow)
    perps_bot_snapshot_timestamp_seconds 1.7e9   # when the bot wrote it (absent if unreadable)
    perps_bot_snapshot_age_seconds 75.2
    perps_bot_snapshot_stale_after_seconds 60

Stdlib only (no prometheus_client needed to serve a file). ``curl http://localhost:9102/metrics``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..argtypes import OneLineParser, port, positive_number
from .metrics import DEFAULT_HOST, DEFAULT_PORT
from .snapshot import SnapshotError, read_snapshot

log = logging.getLogger("trading_core.telemetry.exporter")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_STALE_AFTER_S = 60.0
PROG = "export_metrics.py"

OWN_METRICS = (
    (
        "perps_bot_snapshot_up",
        "1 when the metrics snapshot is fresh (its metrics follow), 0 when it is stale, missing "
        "or unreadable (the bot's metrics are then withheld).",
    ),
    (
        "perps_bot_snapshot_timestamp_seconds",
        "When the bot wrote the metrics snapshot, as a Unix timestamp.",
    ),
    ("perps_bot_snapshot_age_seconds", "Age of the metrics snapshot at this scrape."),
    (
        "perps_bot_snapshot_stale_after_seconds",
        "A snapshot older than this is reported stale (--stale-after).",
    ),
)
_HELP = dict(OWN_METRICS)


def _number(value: float) -> str:
    return repr(float(value))


class SnapshotExporter:
    """Builds the exposition for one scrape from the snapshot file."""

    def __init__(
        self,
        path: Path | str,
        *,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not stale_after_s > 0:
            raise ValueError("stale_after_s must be positive")
        self.path = Path(path)
        self.stale_after_s = float(stale_after_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._last_state: str | None = None

    def exposition(self) -> bytes:
        now = self._clock()
        written_at: float | None = None
        body = ""
        try:
            snapshot = read_snapshot(self.path)
        except SnapshotError as exc:
            state, problem = "missing", str(exc)
        else:
            written_at = snapshot.written_at
            age = snapshot.age(now)
            if abs(age) <= self.stale_after_s:
                state, problem, body = "fresh", "", snapshot.body
            else:
                state = "stale"
                problem = (
                    f"metrics snapshot {self.path} is {age:.0f}s old "
                    f"(stale after {self.stale_after_s:g}s): bot metrics withheld"
                )
        self._note(state, problem)
        own: dict[str, float] = {"perps_bot_snapshot_up": 1.0 if state == "fresh" else 0.0}
        if written_at is not None:
            own["perps_bot_snapshot_timestamp_seconds"] = written_at
            own["perps_bot_snapshot_age_seconds"] = now - written_at
        own["perps_bot_snapshot_stale_after_seconds"] = self.stale_after_s
        lines = []
        for name, value in own.items():
            lines.append(f"# HELP {name} {_HELP[name]}")
            lines.append(f"# TYPE {name} gauge")
            lines.append(f"{name} {_number(value)}")
        text = "\n".join(lines) + "\n"
        if body:
            text = body + ("" if body.endswith("\n") else "\n") + text
        return text.encode("utf-8")

    def _note(self, state: str, problem: str) -> None:
        """Log transitions only (one line when the snapshot goes stale, one when it recovers)."""
        with self._lock:
            if state == self._last_state:
                return
            self._last_state = state
        if problem:
            log.warning("%s", problem)
        else:
            log.info("metrics snapshot %s is fresh", self.path)


def _handler(exporter: SnapshotExporter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "perps-bot-exporter"

        def do_GET(self) -> None:
            self._respond(send_body=True)

        def do_HEAD(self) -> None:
            self._respond(send_body=False)

        def _respond(self, *, send_body: bool) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                status, ctype, payload = 200, CONTENT_TYPE, exporter.exposition()
            elif path == "/":
                status, ctype = 200, "text/plain; charset=utf-8"
                payload = b"perps-bot metrics exporter: see /metrics\n"
            else:
                status, ctype, payload = 404, "text/plain; charset=utf-8", b"not found\n"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if send_body:
                self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def make_server(exporter: SnapshotExporter, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server bound to ``host:port`` (not yet serving). OSError if it cannot bind."""
    server_cls: type[ThreadingHTTPServer] = _Server
    if ":" in host:  # an IPv6 address

        class _Server6(_Server):
            address_family = socket.AF_INET6

        server_cls = _Server6
    return server_cls((host, port), _handler(exporter))


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=prog,
        description="Serve the bot's metrics snapshot file on /metrics for Prometheus, reporting "
        "a stale snapshot as such instead of serving old numbers.",
    )
    parser.add_argument(
        "--metrics-file",
        type=Path,
        required=True,
        metavar="PATH",
        help="the snapshot the bot writes each cycle (var/data/perps_bot/<profile>/metrics.prom)",
    )
    parser.add_argument("--port", type=port, default=DEFAULT_PORT, help="default %(default)s")
    parser.add_argument("--host", default=DEFAULT_HOST, help="bind address (default %(default)s)")
    parser.add_argument(
        "--stale-after",
        type=positive_number,
        default=DEFAULT_STALE_AFTER_S,
        metavar="S",
        help="report the snapshot stale when older than S seconds (default %(default)s; keep "
        "it a few bot cycles long)",
    )
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """Run the exporter until SIGINT/SIGTERM. Exit 0 when stopped, 2 for bad input (one line)."""
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    exporter = SnapshotExporter(args.metrics_file, stale_after_s=args.stale_after)
    try:
        server = make_server(exporter, args.host, args.port)
    except OSError as exc:
        print(
            f"{prog}: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    stop = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    thread = threading.Thread(target=server.serve_forever, name="metrics-exporter", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in str(host) else host
    print(
        f"{prog}: serving {args.metrics_file} on http://{shown}:{port}/metrics "
        f"(stale after {args.stale_after:g}s)",
        flush=True,
    )
    if not args.metrics_file.exists():
        log.warning(
            "no metrics snapshot at %s yet: reporting perps_bot_snapshot_up 0", args.metrics_file
        )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    return 0


__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_STALE_AFTER_S",
    "OWN_METRICS",
    "SnapshotExporter",
    "main",
    "make_server",
]
