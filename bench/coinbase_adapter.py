#!/usr/bin/env python3
"""Benchmark: the Coinbase adapter against the local simulator on loopback.

The simulator runs as ``perps-bot sim serve`` in its own process.

- sustained request rate with the shipped limits (client limiter 25/s burst 5, venue 30/s):
  what the adapter keeps up without a single 429;
- raw throughput with both limits off (one thread and four), and the per-request latency;
- tick-to-order latency: a WebSocket ticker message received -> the order request leaving the
  adapter (handler -> queue -> ``submit_order`` -> the HTTP send), and the full submit.

Prints one JSON document. Not a test: figures vary with the machine; compare them over time.
    .venv/bin/python bench/coinbase_adapter.py [--seconds 4] [--ticks 40]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trading_core.brokers.coinbase.broker import (  # noqa: E402
    CoinbaseBroker,
    open_coinbase_broker,
)
from trading_core.brokers.coinbase.keys import generate_key, write_key_file  # noqa: E402
from trading_core.brokers.coinbase.stream import StreamMessage  # noqa: E402
from trading_core.config import TOP_TEN_USD, load_settings  # noqa: E402
from trading_core.domain import OrderRequest, OrderSide, OrderType, TimeInForce  # noqa: E402

logging.getLogger().addHandler(logging.NullHandler())  # no lastResort lines on stderr


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def ms(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50) * 1000, 3),
        "p95": round(percentile(values, 95) * 1000, 3),
        "max": round(max(values) * 1000, 3),
        "mean": round(statistics.fmean(values) * 1000, 3),
    }


class Simulator:
    """``perps-bot sim serve`` in its own process (so the adapter and the venue do not share a
    GIL), trusting ``key`` through a key file."""

    def __init__(self, key: tuple[str, str], venue_limit: int, workdir: Path) -> None:
        key_file = write_key_file(workdir / "key.json", *key)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        env = {k: v for k, v in os.environ.items() if not k.startswith("COINBASE_")}
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "perps-bot"),
                "sim",
                "serve",
                "--port",
                str(self.port),
                "--seed",
                "1",
                "--key-file",
                str(key_file),
                "--rate-limit",
                str(venue_limit),
                "--balance",
                "USD=10000000",
            ],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.base_url}/sim/state", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the simulator did not start") from None
                time.sleep(0.1)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def broker_for(
    server: Simulator, key: tuple[str, str], *, streaming: bool, **env: str
) -> CoinbaseBroker:
    environ = {
        "COINBASE_API_KEY": key[0],
        "COINBASE_API_SECRET": key[1],
        "COINBASE_API_BASE": server.base_url,
        "COINBASE_WS_URL": server.ws_url,
        "TRADING_SYMBOLS": ",".join(TOP_TEN_USD),
        **env,
    }
    settings = load_settings("prod", environ=environ, dotenv_path=None)
    return open_coinbase_broker(settings, streaming=streaming)


def sustained(broker: CoinbaseBroker, seconds: float, threads: int = 1) -> dict[str, Any]:
    """Uncached GETs (product_book) for ``seconds`` from ``threads`` threads."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def work() -> None:
        mine = []
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            broker.get_order_book("BTC-USD", 1)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    statuses: dict[str, int] = {}
    for (_, status), n in broker.stats().requests.items():
        statuses[status] = statuses.get(status, 0) + n
    return {
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        "latency_ms": ms(latencies),
        "statuses": statuses,
    }


def tick_to_order(broker: CoinbaseBroker, samples: int) -> dict[str, Any]:
    """On a ticker message (while idle), a $5 market buy of that product from another thread,
    as a strategy reacting to ticks would do."""
    stream = broker.stream
    assert stream is not None and stream.wait_connected(10)
    ticks: queue.Queue[tuple[float, str]] = queue.Queue(maxsize=1)

    def on_message(message: StreamMessage) -> None:
        if message.channel != "ticker":
            return
        for event in message.doc.get("events") or []:
            if event.get("type") != "update":
                continue
            for ticker in event.get("tickers") or []:
                try:
                    ticks.put_nowait((message.received, ticker["product_id"]))
                except queue.Full:
                    return  # busy with the previous order: this tick is not acted on

    for symbol in TOP_TEN_USD:
        broker.get_product(symbol)  # product metadata cached, as in a running bot
    stream.add_handler(on_message)
    to_send: list[float] = []
    to_done: list[float] = []
    for n in range(samples):
        while True:  # drain ticks that arrived while the previous order was in flight
            received, symbol = ticks.get(timeout=10)
            if time.perf_counter() - received < 0.05:
                break
        request = OrderRequest(
            f"bench-{n}",
            symbol,
            OrderSide.BUY,
            OrderType.MARKET,
            quote_size=Decimal("5"),
            time_in_force=TimeInForce.IOC,
        )
        broker.submit_order(request)
        done = time.perf_counter()
        # the first request this submit sent is the POST /orders (products are cached); the
        # GET of the new order follows it
        first = broker.transport.first_sent_since(received)
        assert first is not None
        to_send.append(first - received)
        to_done.append(done - received)
    return {
        "samples": samples,
        "tick_to_order_sent_ms": ms(to_send),
        "tick_to_order_confirmed_ms": ms(to_done),
        "note": "event-driven (handler -> queue -> submit); the bot's cycle loop reads the "
        "streamed cache once per interval instead",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--ticks", type=int, default=40)
    args = parser.parse_args()
    key = generate_key("ec", "organizations/bench/apiKeys/bench")
    report: dict[str, Any] = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench-coinbase-"))

    server = Simulator(key, 30, workdir)
    try:
        broker = broker_for(server, key, streaming=False)
        report["sustained_default_limits"] = {
            "client_limit_rps": 25,
            "venue_limit_rps": 30,
            **sustained(broker, args.seconds),
        }
        broker.close()
    finally:
        server.stop()

    server = Simulator(key, 0, workdir)
    try:
        fast = {"COINBASE_RATE_LIMIT_PER_SECOND": "1000", "COINBASE_RATE_LIMIT_BURST": "50"}
        broker = broker_for(server, key, streaming=False, **fast)
        report["unthrottled_1_thread"] = sustained(broker, args.seconds)
        broker.close()
        broker = broker_for(server, key, streaming=False, **fast)
        report["unthrottled_4_threads"] = sustained(broker, args.seconds, threads=4)
        broker.close()
        broker = broker_for(server, key, streaming=True)
        report["tick_to_order"] = tick_to_order(broker, args.ticks)
        broker.close()
    finally:
        server.stop()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
