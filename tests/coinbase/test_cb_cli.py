"""The account and orders CLI as an operator types it (real perps-bot subprocesses): the
runbook's examples against the simulator (canary profile) and on the paper exchange (dev),
credential errors, and `perps-bot sim serve` / `sim fault` themselves."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from cb_helpers import PERPS_BOT, Sim, run_cli, wait_for

from trading_core.brokers.coinbase.broker import CoinbaseBroker
from trading_core.domain import OrderRequest, OrderSide, OrderStatus, OrderType

RUNBOOK_PREVIEWS = [
    "orders preview --symbol BTC-USD --side buy --type market --quantity 0.01",
    "orders preview --symbol BTC-USD --side sell --type limit --quantity 0.01 --price 65000 "
    "--client-id demo-001",
    "orders preview --symbol BTC-USD --side sell --type stop_limit --quantity 0.01 --price 60000 "
    "--stop 59500 --reduce-only",
]


def limit_buy(cid: str, broker: CoinbaseBroker) -> str:
    price = (broker.get_quote("ETH-USD").bid * Decimal("0.9")).quantize(Decimal("0.01"))
    order = broker.submit_order(
        OrderRequest(
            cid,
            "ETH-USD",
            OrderSide.BUY,
            OrderType.LIMIT,
            base_size=Decimal("0.5"),
            limit_price=price,
        )
    )
    return order.order_id


def test_runbook_examples_against_the_simulator(
    tmp_path: Path,
    cli_env: dict[str, str],
    sim: Sim,
    ec_key: tuple[str, str],
    broker: CoinbaseBroker,
) -> None:
    env = {**cli_env, **sim.env(ec_key), "PERPS_PROFILE": "canary"}
    secrets = [ec_key[0], *[line for line in ec_key[1].splitlines() if len(line) > 20]]

    def run(line: str) -> str:
        result = run_cli(tmp_path, env, *line.split())
        assert result.returncode == 0, result.stderr
        for secret in secrets:
            assert secret not in result.stdout + result.stderr
        return result.stdout

    snapshot = run("account snapshot")
    for part in ("profile canary on coinbase", "Balances", "Key permissions", "Fee schedule"):
        assert part in snapshot
    assert re.search(r"BTC\s+0\.05", snapshot) and "taker 1.20%" in snapshot
    market, limit, stop = (run(line) for line in RUNBOOK_PREVIEWS)
    for out in (market, limit, stop):
        assert re.search(r"preview_id\s+\S{8}-", out) and re.search(r"errors\s+none", out)
    assert "client_order_id  demo-001" in limit
    assert "STOP_DIRECTION_STOP_DOWN" in stop
    assert sim.state()["orders"] == 0  # previews place nothing

    order_id = limit_buy("cli-edit", broker)
    edit = run(f"orders edit-preview --order-id {order_id} --price 3000.5 --quantity 0.4")
    preview_id = re.search(r"--preview-id (\S+)", edit)
    assert preview_id is not None, edit
    run(f"orders apply-edit --order-id {order_id} --preview-id {preview_id.group(1)}")
    edited = broker.get_order(order_id)
    assert edited.limit_price == Decimal("3000.5") and edited.base_size == Decimal("0.4")
    listing = run("orders list")
    assert order_id in listing and "cli-edit" in listing
    assert f"{order_id}: cancelled" in run(f"orders cancel --order-id {order_id}")
    assert broker.get_order(order_id).status is OrderStatus.CANCELLED
    assert "(no open orders)" in run("orders list")


def test_snapshot_and_lists_as_json(
    tmp_path: Path, cli_env: dict[str, str], sim: Sim, ec_key: tuple[str, str]
) -> None:
    env = {**cli_env, **sim.env(ec_key)}
    result = run_cli(tmp_path, env, "account", "snapshot", "--profile", "canary", "--json")
    assert result.returncode == 0, result.stderr
    snap = json.loads(result.stdout)
    assert snap["broker"] == "coinbase" and snap["permissions"]["can_trade"] is True
    assert snap["fees"]["maker_fee_rate"] == "0.006"
    assert {b["currency"] for b in snap["balances"]} == {"BTC", "ETH", "USD"}
    assert {p["symbol"] for p in snap["positions"]} == {"BTC-USD", "ETH-USD"}
    assert Decimal(snap["equity"]) > Decimal("100000")
    listing = run_cli(tmp_path, env, "orders", "list", "--all", "--json", "--profile", "canary")
    assert listing.returncode == 0 and json.loads(listing.stdout) == []


def test_credentials_problems_are_one_line_exit_2(
    tmp_path: Path, cli_env: dict[str, str], sim: Sim, ec_key: tuple[str, str]
) -> None:
    env = {**cli_env, "COINBASE_API_BASE": sim.base_url, "PERPS_PROFILE": "canary"}
    missing = run_cli(tmp_path, env, "account", "snapshot")
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0
    assert "COINBASE_API_KEY: not set" in missing.stderr
    secret = "-----BEGIN EC PRIVATE KEY-----\\nc2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw==\\n"
    bad = run_cli(
        tmp_path,
        {**env, "COINBASE_API_KEY": ec_key[0], "COINBASE_API_SECRET": secret},
        "orders",
        "list",
    )
    assert bad.returncode == 2 and "COINBASE_API_SECRET: malformed" in bad.stderr
    assert "c2VjcmV0" not in bad.stderr + bad.stdout and ec_key[0] not in bad.stderr
    refused = run_cli(
        tmp_path,
        {
            **env,
            "COINBASE_API_KEY": "organizations/x/apiKeys/unknown",
            "COINBASE_API_SECRET": ec_key[1],
        },
        "account",
        "snapshot",
    )
    assert refused.returncode == 2 and "refused the credentials" in refused.stderr
    assert refused.stderr.strip().count("\n") == 0
    wrong = run_cli(
        tmp_path,
        {**env, **sim.env(ec_key)},
        "orders",
        "preview",
        "--symbol",
        "BTC-USD",
        "--side",
        "buy",
        "--type",
        "limit",
        "--quantity",
        "0.01",
    )
    assert wrong.returncode == 2 and "--price: required" in wrong.stderr


def test_runbook_examples_on_the_paper_exchange(tmp_path: Path, cli_env: dict[str, str]) -> None:
    from trading_core.brokers.factory import open_broker
    from trading_core.brokers.paper import PaperBroker
    from trading_core.config import load_settings

    outputs = []
    for line in RUNBOOK_PREVIEWS:
        result = run_cli(tmp_path, cli_env, *line.split())
        assert result.returncode == 0, result.stderr
        assert "(profile dev, paper)" in result.stdout
        outputs.append(result.stdout)
    assert re.search(r"errors\s+none", outputs[0])
    assert "INSUFFICIENT_FUND" in outputs[1]  # dev starts with cash only
    assert "REDUCE_ONLY_VIOLATION" in outputs[2] and "position is 0" in outputs[2]
    snapshot = run_cli(tmp_path, cli_env, "account", "snapshot")
    assert snapshot.returncode == 0 and "portfolio PAPER" in snapshot.stdout
    perp = run_cli(tmp_path, cli_env, *RUNBOOK_PREVIEWS[0].replace("BTC-USD", "BTC-PERP").split())
    assert perp.returncode == 2 and "derivatives are off" in perp.stderr

    settings = load_settings(
        "dev", environ=cli_env, dotenv_path=None, cli={"data_dir": tmp_path / "var/data/perps_bot"}
    )
    broker, _ = open_broker(settings)
    assert isinstance(broker, PaperBroker)
    order = broker.submit_order(
        OrderRequest(
            "paper-1",
            "ETH-USD",
            OrderSide.BUY,
            OrderType.LIMIT,
            base_size=Decimal("1"),
            limit_price=Decimal("2000"),
        )
    )
    broker.save()
    owned = run_cli(tmp_path, cli_env, "orders", "cancel", "--all")  # the venue has an owner
    assert owned.returncode == 2 and "in use by process" in owned.stderr
    assert owned.stderr.count("\n") == 1
    broker.close()
    edit = run_cli(
        tmp_path, cli_env, "orders", "edit-preview", "--order-id", order.order_id, "--price", "2100"
    )
    assert edit.returncode == 0, edit.stderr
    preview_id = re.search(r"--preview-id (\S+)", edit.stdout)
    assert preview_id is not None, edit.stdout
    applied = run_cli(
        tmp_path,
        cli_env,
        "orders",
        "apply-edit",
        "--order-id",
        order.order_id,
        "--preview-id",
        preview_id.group(1),
    )
    assert applied.returncode == 0, applied.stderr
    cancelled = run_cli(tmp_path, cli_env, "orders", "cancel", "--all")
    assert cancelled.returncode == 0 and f"{order.order_id}: cancelled" in cancelled.stdout
    reopened, _ = open_broker(settings)
    saved = reopened.get_order(order.order_id)  # the CLI saved the paper exchange
    assert saved.limit_price == Decimal("2100") and saved.status is OrderStatus.CANCELLED


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sim_serve_and_sim_fault_from_the_command_line(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    serve = subprocess.Popen(
        [PERPS_BOT, "sim", "serve", "--port", str(port), "--seed", "3", "--faults", "latency:ms=1"],
        cwd=tmp_path,
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def up() -> bool:
            try:
                with urllib.request.urlopen(f"{base}/sim/state", timeout=1) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(up, timeout=20, interval=0.1)
        key_file = tmp_path / "var/sim/coinbase_key.json"
        assert key_file.exists() and (key_file.stat().st_mode & 0o077) == 0
        env = {
            **cli_env,
            "COINBASE_API_BASE": base,
            "COINBASE_WS_URL": f"ws://127.0.0.1:{port}/ws",
            "COINBASE_KEY_FILE": str(key_file),
        }
        snap = run_cli(tmp_path, env, "account", "snapshot", "--profile", "canary")
        assert snap.returncode == 0, snap.stderr
        fault = run_cli(tmp_path, env, "sim", "fault", "--url", base, "error:status=503,count=2")
        assert fault.returncode == 0 and '"kind": "error"' in fault.stdout
        cleared = run_cli(tmp_path, env, "sim", "fault", "--url", base, "--clear")
        assert "faults at" in cleared.stdout and "none" in cleared.stdout
        bad = run_cli(tmp_path, env, "sim", "fault", "--url", base, "meteor:size=9")
        assert bad.returncode == 2 and "unknown fault kind" in bad.stderr
        key_file.chmod(0o644)  # exposed: a live profile refuses to start on it
        exposed = run_cli(tmp_path, env, "run", "--profile", "canary", "--cycles", "1")
        assert exposed.returncode == 2 and exposed.stdout == ""
        assert exposed.stderr.count("\n") == 1 and "is 0644, open to group" in exposed.stderr
        assert "BEGIN" not in exposed.stderr
    finally:
        serve.send_signal(signal.SIGINT)
        out, err = serve.communicate(timeout=15)
    assert serve.returncode == 0, err
    assert f"export COINBASE_API_BASE={base}" in out
    assert "export COINBASE_KEY_FILE=var/sim/coinbase_key.json" in out
    assert "BEGIN" not in out + err  # the key itself is never printed


@pytest.mark.parametrize("args", [["--port", "99999"], ["--scenario", "meteor"]])
def test_sim_serve_refuses_bad_input(
    tmp_path: Path, cli_env: dict[str, str], args: list[str]
) -> None:
    result = run_cli(tmp_path, cli_env, "sim", "serve", *args)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
