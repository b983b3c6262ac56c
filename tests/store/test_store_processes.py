"""The store across processes: SIGKILL durability and readers while a writer writes (WAL)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

from trading_core.store import EventStore

T0 = datetime(2026, 11, 23, 12, tzinfo=UTC)

KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from trading_core.store import EventStore

    store = EventStore(sys.argv[1])
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    with store.transaction():
        for i in range(100):
            store.append_event("cycle", ts=now, cycle=i, message="committed")
        store.set_state("cycle", {"n": 100}, now)
    print("committed", flush=True)
    # A large pending transaction: more than the page cache holds, so SQLite spills uncommitted
    # pages into the WAL before the kill.
    for i in range(20000):
        store.append_event("cycle", ts=now, cycle=1000 + i, message="pending " + "x" * 200)
    store.set_state("cycle", {"n": 20100}, now)
    print("pending", flush=True)
    time.sleep(60)
    """
)

STEADY_WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime, timedelta
    from trading_core.store import EventStore

    store = EventStore(sys.argv[1])
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    print("ready", flush=True)
    sys.stdin.readline()
    for cycle in range(int(sys.argv[2])):
        with store.transaction():
            for k in range(5):
                store.append_event("cycle", ts=now + timedelta(seconds=cycle), cycle=cycle)
            store.set_state("cycle", cycle, now)
        time.sleep(0.002)
    store.close()
    print("done", flush=True)
    """
)


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_keeps_committed_and_drops_uncommitted(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    proc = spawn(KILLED_WRITER, str(path))
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "committed"
        assert proc.stdout.readline().strip() == "pending"
        assert path.with_name("events.db-wal").stat().st_size > 0  # spilled, uncommitted frames
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    # A read-only reader first (the crashed writer's WAL and -shm are still there) ...
    with EventStore.open_readonly(path) as reader:
        assert reader.count_events() == 100
        assert {e.message for e in reader.events(limit=200)} == {"committed"}
        assert reader.get_state("cycle") == {"n": 100}
    # ... then a new writer: recovery keeps exactly the committed transaction.
    with EventStore(path) as store:
        assert store.integrity_check() == "ok"
        assert store.count_events() == 100
        assert store.get_state("cycle") == {"n": 100}
        store.append_event("lifecycle", ts=T0, message="restarted")
    with EventStore.open_readonly(path) as reader:
        assert reader.count_events() == 101


def test_reader_process_sees_whole_transactions_while_writer_writes(tmp_path: Path) -> None:
    """A read-only reader polls while another process commits 5-event transactions: it never
    errors, never waits for the writer, and only ever sees whole transactions."""
    path = tmp_path / "events.db"
    EventStore(path).close()
    cycles = 300
    proc = spawn(STEADY_WRITER, str(path), str(cycles))
    seen: list[int] = []
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        with EventStore.open_readonly(path) as reader:
            deadline = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < deadline:
                count = reader.count_events()
                last = reader.last_event("cycle")
                seen.append(count)
                assert count % 5 == 0
                if last is not None:
                    assert last.cycle is not None and last.cycle >= count // 5 - 1
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "done" in out
    assert seen == sorted(seen)  # never goes backwards
    assert len(set(seen)) > 2, seen[:20]  # saw the store grow while the writer wrote
    with EventStore.open_readonly(path) as reader:
        assert reader.count_events() == cycles * 5
        assert reader.get_state("cycle") == cycles - 1
