"""The store checked against the venue, changing nothing: the invariants a crash must not break.

Reconciliation (reconcile.py) repairs what it can and stops trading on a breach; this audit only
reads, and states each invariant separately so a campaign (bench/kill_campaign.py) or an
operator after an incident can see which one failed:

- ``store_integrity``: SQLite's integrity check passes;
- ``no_duplicate_orders``: no client order id stands for two venue orders;
- ``no_lost_orders``: every venue order is in the store;
- ``no_phantom_orders``: every order the store says reached the venue is there;
- ``order_status``: where both know an order, they agree on its status and filled size;
- ``no_lost_fills`` / ``no_phantom_fills``: the store's fills are exactly the venue's;
- ``positions``: per symbol, the position rebuilt from the store's fills equals the venue's;
- ``cash``: (given the starting cash) the venue's quote balance equals it plus the stored fills'
  cash flows (notional and fees), to the cent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from .brokers.base import Broker
from .domain import OrderStatus
from .domain.money import ZERO, fmt
from .store.event_store import EventStore

CHECKS = (
    "store_integrity",
    "no_duplicate_orders",
    "no_lost_orders",
    "no_phantom_orders",
    "order_status",
    "no_lost_fills",
    "no_phantom_fills",
    "positions",
    "cash",
)
CASH_TOLERANCE = Decimal("0.01")
QTY_TOLERANCE = Decimal("1e-12")


@dataclass(slots=True)
class AuditReport:
    problems: dict[str, list[str]] = field(default_factory=lambda: {c: [] for c in CHECKS})
    orders: int = 0  # venue orders
    fills: int = 0  # venue fills
    positions: dict[str, Decimal] = field(default_factory=dict)  # venue, non-zero

    @property
    def ok(self) -> bool:
        return not any(self.problems.values())

    def failed(self) -> list[str]:
        return [name for name, found in self.problems.items() if found]

    def summary(self) -> str:
        if self.ok:
            return f"audit ok: {self.orders} orders, {self.fills} fills, all invariants hold"
        return "audit FAILED: " + "; ".join(
            f"{name}: {found[0]}" + (f" (+{len(found) - 1} more)" if len(found) > 1 else "")
            for name, found in self.problems.items()
            if found
        )


def audit(
    store: EventStore,
    broker: Broker,
    *,
    symbols: Iterable[str] | None = None,
    quote_currency: str = "USD",
    starting_cash: Decimal | None = None,
) -> AuditReport:
    """Compare ``store`` with what ``broker``'s venue reports (reads only). ``symbols``: the
    positions to compare (default: every symbol either side holds)."""
    report = AuditReport()
    problems = report.problems
    integrity = store.integrity_check()
    if integrity != "ok":
        problems["store_integrity"].append(integrity)

    venue_orders = broker.list_orders(open_only=False)
    report.orders = len(venue_orders)
    for client_id, count in Counter(o.client_order_id for o in venue_orders).items():
        if count > 1:
            problems["no_duplicate_orders"].append(f"{client_id} is {count} venue orders")
    stored = {o.client_order_id: o for o in store.list_orders()}
    venue_by_client = {o.client_order_id: o for o in venue_orders}
    for order in venue_orders:
        mine = stored.get(order.client_order_id)
        if mine is None:
            problems["no_lost_orders"].append(f"{order.client_order_id} ({order.order_id})")
            continue
        if mine.status is not order.status or mine.filled_size != order.filled_size:
            problems["order_status"].append(
                f"{order.client_order_id}: store {mine.status.value} {fmt(mine.filled_size)}, "
                f"venue {order.status.value} {fmt(order.filled_size)}"
            )
    for client_id, mine in stored.items():
        reached = mine.order_id is not None and mine.status is not OrderStatus.INITIALIZED
        if client_id not in venue_by_client and reached and mine.filled_size > ZERO:
            problems["no_phantom_orders"].append(f"{client_id} ({mine.status.value})")

    venue_fills = {f.fill_id: f for f in broker.list_fills()}
    report.fills = len(venue_fills)
    stored_fills = {f.fill_id: f for f in store.list_fills()}
    problems["no_lost_fills"].extend(sorted(set(venue_fills) - set(stored_fills)))
    problems["no_phantom_fills"].extend(sorted(set(stored_fills) - set(venue_fills)))

    books = {s: p.quantity for s, p in store.positions().items()}
    venue_positions = {p.symbol: p.quantity for p in broker.list_positions() if not p.is_flat}
    report.positions = venue_positions
    names = set(books) | set(venue_positions) if symbols is None else set(symbols)
    for symbol in sorted(names):
        ours, theirs = books.get(symbol, ZERO), venue_positions.get(symbol, ZERO)
        if abs(ours - theirs) > QTY_TOLERANCE:
            problems["positions"].append(
                f"{symbol}: fills add up to {fmt(ours)}, venue {fmt(theirs)}"
            )

    if starting_cash is not None:
        flows = sum((fill.cash_flow for fill in stored_fills.values()), ZERO)
        cash = sum((b.total for b in broker.list_balances() if b.currency == quote_currency), ZERO)
        expected = starting_cash + flows
        if abs(cash - expected) > CASH_TOLERANCE:
            problems["cash"].append(
                f"venue {quote_currency} {fmt(cash)}, starting cash and fills say {fmt(expected)}"
            )
    return report
