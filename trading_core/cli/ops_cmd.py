"""`perps-bot ops up|down|status`: the local operations stack.

`up` starts a Prefect server on 127.0.0.1:4200 with its SQLite database under var/prefect/,
waits until it is healthy, registers the automations, serves every deployment of prefect.yaml
from one process and starts the profile's trading session; `down` stops what `up` started, by
pid. With `--foreground` (what `make run` uses) it stays attached and Ctrl-C takes it all down.
This module starts processes and speaks HTTP; it never imports Prefect itself."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
OPS_DIR = Path("var/prefect")
STATE_FILE = OPS_DIR / "ops.json"


def register(subparsers: Any) -> None:
    ops = subparsers.add_parser("ops", help="the local Prefect stack: up, down, status")
    actions = ops.add_subparsers(dest="ops_command", metavar="ACTION")
    actions.required = True
    up = actions.add_parser("up", help="start server, automations, deployments, trading session")
    up.add_argument("--profile", default=None, help="default: $PERPS_PROFILE or dev")
    up.add_argument("--port", type=int, default=4200)
    up.add_argument("--no-trading", action="store_true", help="do not start a trading session")
    up.add_argument("--foreground", action="store_true", help="stay attached; Ctrl-C stops all")
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for health")
    up.set_defaults(handler=run_up)
    down = actions.add_parser("down", help="stop what `ops up` started")
    down.set_defaults(handler=run_down)
    status = actions.add_parser("status", help="what runs, and where")
    status.set_defaults(handler=run_status)


def prefect_env(port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PREFECT_HOME=str((OPS_DIR / "home").resolve()),
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        DO_NOT_TRACK="1",
        GX_ANALYTICS_ENABLED="false",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
    )
    return env


def _bin(name: str) -> str:
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/health", timeout=2.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = open(log, "ab")  # noqa: SIM115 (the child keeps it open)
    return subprocess.Popen(
        args,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        cwd=Path.cwd(),
        start_new_session=True,
    )


def _read_state() -> dict[str, Any] | None:
    try:
        return json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except OSError:
        return False
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def run_up(args: argparse.Namespace) -> int:
    from ..config import load_settings

    profile = args.profile or os.environ.get("PERPS_PROFILE") or "dev"
    load_settings(profile)  # bad profile or config: one line, exit 2, before anything starts
    state = _read_state()
    if state and any(_alive(p) for p in state.get("pids", {}).values()):
        raise ConfigError("ops: the stack is already up (perps-bot ops down first)")
    env = prefect_env(args.port)
    api = env["PREFECT_API_URL"]
    pids: dict[str, int] = {}
    print(f"starting Prefect server on 127.0.0.1:{args.port} (database under {OPS_DIR}/home)")
    server = _spawn(
        [_bin("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(args.port)],
        env,
        OPS_DIR / "server.log",
    )
    pids["server"] = server.pid
    _write_state(pids, api, profile)
    deadline = time.monotonic() + args.timeout
    while not _healthy(api):
        if server.poll() is not None or time.monotonic() > deadline:
            _stop(pids)
            raise ConfigError(
                f"ops: the Prefect server did not become healthy (see {OPS_DIR}/server.log)"
            )
        time.sleep(1)
    print(f"server healthy: {api}")
    setup = subprocess.run(
        [sys.executable, str(ROOT / "deployments" / "automations.py")],
        env=env,
        cwd=Path.cwd(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(setup.stdout.strip() or "automations: nothing to register")
    if setup.returncode != 0:
        print(f"automations failed: {setup.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
    serve = _spawn(
        [sys.executable, str(ROOT / "deployments" / "serve.py")], env, OPS_DIR / "serve.log"
    )
    pids["serve"] = serve.pid
    _write_state(pids, api, profile)
    if not args.no_trading:
        _wait_for_deployment(env, f"trading-loop/{profile}", timeout=60)
        run = subprocess.run(
            [_bin("prefect"), "deployment", "run", f"trading-loop/{profile}"],
            env=env,
            cwd=Path.cwd(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        print(
            "trading session started"
            if run.returncode == 0
            else f"could not start trading-loop/{profile}: {run.stdout.strip()[-200:]}"
        )
    print(f"Prefect UI:  http://127.0.0.1:{args.port}")
    print("Metrics:     http://127.0.0.1:9102/metrics (while the trading session runs)")
    print(f"Logs:        var/logs/perps_bot.log, {OPS_DIR}/server.log, {OPS_DIR}/serve.log")
    if not args.foreground:
        print("stop with: perps-bot ops down")
        return 0
    print("Ctrl-C stops the stack")
    stopping = False

    def _interrupt(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    follow = _LogFollower(settings_log_path(profile))
    while not stopping and server.poll() is None:
        for line in follow.new_lines():  # what the bot does, as it does it
            print(line, flush=True)
        time.sleep(0.5)
    print("stopping: the trading session finishes its cycle, then the server stops", flush=True)
    _stop(pids)
    STATE_FILE.unlink(missing_ok=True)
    print("stack stopped")
    return 0


def settings_log_path(profile: str) -> Path:
    from ..config import load_settings

    return load_settings(profile).log_path


class _LogFollower:
    """`tail -f` of the bot's log from where it ends now."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def new_lines(self) -> list[str]:
        try:
            size = self.path.stat().st_size
        except OSError:
            return []
        if size < self.offset:  # rotated
            self.offset = 0
        if size == self.offset:
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read(size - self.offset)
        last_newline = chunk.rfind(b"\n")
        if last_newline < 0:
            return []
        self.offset += last_newline + 1
        return chunk[: last_newline + 1].decode("utf-8", "replace").splitlines()


def _wait_for_deployment(env: dict[str, str], name: str, timeout: float) -> None:
    import httpx

    flow, _, deployment = name.partition("/")
    url = f"{env['PREFECT_API_URL']}/deployments/name/{flow}/{deployment}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)


def _write_state(pids: dict[str, int], api: str, profile: str) -> None:
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(
        json.dumps({"pids": pids, "api": api, "profile": profile, "started_at": time.time()})
    )


def _stop(pids: dict[str, int]) -> None:
    for name in ("serve", "server"):  # the runner first: it finishes its flow runs
        pid = pids.get(name)
        if pid is None or not _alive(pid):
            continue
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            continue
        for _ in range(60):  # the whole group: flow runs finish their cycle and flush first
            if not _group_alive(pid):
                break
            time.sleep(0.5)
        else:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)


def run_down(args: argparse.Namespace) -> int:
    state = _read_state()
    if not state:
        print("nothing to stop (no var/prefect/ops.json)")
        return 0
    _stop({k: int(v) for k, v in state.get("pids", {}).items()})
    STATE_FILE.unlink(missing_ok=True)
    print("stack stopped")
    return 0


def run_status(args: argparse.Namespace) -> int:
    state = _read_state()
    if not state:
        print("down")
        return 1
    for name, pid in state.get("pids", {}).items():
        print(f"{name:<8} pid {pid:<8} {'running' if _alive(int(pid)) else 'gone'}")
    print(f"api      {state.get('api')} {'healthy' if _healthy(state['api']) else 'unreachable'}")
    return 0
