"""Everything the bot listens on is bound to 127.0.0.1 unless the operator says otherwise:
/metrics (the bot's and the snapshot exporter's) and the Coinbase simulator. Checked on the
kernel's socket table, not on the configuration."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from trading_core.cli.main import build_parser
from trading_core.sim.server import SimContext, SimServer, SimVenue
from trading_core.telemetry.exporter import DEFAULT_HOST, SnapshotExporter, make_server
from trading_core.telemetry.metrics import BotMetrics


def listening_addresses(port: int) -> set[str]:
    """Local IPv4/IPv6 addresses with a socket listening on ``port`` (from /proc/net)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # LISTEN
                if len(address) == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
                else:
                    raw = bytes.fromhex(address)
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net")
def test_metrics_exporter_and_simulator_listen_on_loopback_only(tmp_path: Path) -> None:
    metrics = BotMetrics(profile="dev", broker="paper")
    port = metrics.serve(port=0)
    try:
        assert listening_addresses(port) == {"127.0.0.1"}
    finally:
        metrics.shutdown()

    server = make_server(SnapshotExporter(tmp_path / "metrics.prom"), DEFAULT_HOST, 0)
    try:
        assert listening_addresses(int(server.server_address[1])) == {"127.0.0.1"}
    finally:
        server.server_close()

    sim = SimServer(SimContext(SimVenue.create(seed=1))).start()
    try:
        assert listening_addresses(int(sim.base_url.rsplit(":", 1)[1])) == {"127.0.0.1"}
    finally:
        sim.stop()


def test_command_line_defaults_bind_loopback() -> None:
    parser = build_parser()
    run = parser.parse_args(["run"])
    assert run.metrics_host == "127.0.0.1"
    serve = parser.parse_args(["sim", "serve"])
    assert serve.host == "127.0.0.1"
