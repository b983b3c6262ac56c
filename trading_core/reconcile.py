"""Reconciliation: the store brought in line with the venue before any order is sent.

Run at every start (and periodically by the runner). Stated invariants, each checked:
- every order the store left in flight is resolved by client order id (found: updated; never
  sent: cancelled; sent but unknown to the venue: failed);
- orders on the venue that the store does not know (placed by hand) are adopted and reported;
- fills the venue has and the store lacks are applied once (the fill id is the key);
- no client order id stands for two venue orders (no order doubled);
- for every symbol the bot has fills in, the venue holds at least what the fills add up to
  (position = sum of fills; more on the venue is outside holdings, reported, not a breach);
- cash is consistent: the venue's quote balance moved by what the bot's fills say (notional and
  fees) since the last reconciliation. On a venue where money can move otherwise (a deposit, a
  withdrawal, a trade outside the bot's symbols: Coinbase, whose broker says so with
  ``cash_moves_outside = True``) a difference is reported as unexplained, with a warning, and
  becomes the new baseline; that is an operator's business, not proof of a bot fault. On a venue
  where nothing else moves money (the paper venue) it is a breach.
A breach is a SEV-1 event and latches reduce-only until an operator clears it."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from .brokers.base import Broker
from .domain import Balance, Fill, OrderEvent, OrderStatus
from .domain.money import ZERO, fmt
from .errors import BrokerError
from .risk.modes import ModeController
from .store.event_store import EventStore

log = logging.getLogger("trading_core.reconcile")
FILL_LOOKBACK = timedelta(days=2)  # how far behind the last stored fill to ask for missed ones
CASH_STATE = "reconcile_cash"  # the baseline: venue cash and the fills' cash flow at that time
CASH_TOLERANCE = Decimal("0.01")
SET_BY = "reconcile"  # who set the reduce-only latch of a breach (the guard sweep looks for it)


@dataclass(slots=True)
class ReconcileReport:
    resolved: dict[str, str] = field(default_factory=dict)  # client id -> new status
    adopted: list[str] = field(default_factory=list)  # venue order ids the store did not know
    fills_applied: int = 0
    outside_holdings: dict[str, Decimal] = field(default_factory=dict)  # venue qty beyond fills
    cash_unexplained: dict[str, Decimal] = field(default_factory=dict)  # quote ccy -> amount
    breaches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaches

    def summary(self) -> str:
        parts = [
            f"{len(self.resolved)} in-flight resolved",
            f"{len(self.adopted)} adopted",
            f"{self.fills_applied} missed fills applied",
        ]
        if self.outside_holdings:
            parts.append(
                "outside holdings: "
                + ", ".join(f"{s} {fmt(q)}" for s, q in sorted(self.outside_holdings.items()))
            )
        if self.cash_unexplained:
            parts.append(
                "cash moved outside the bot's fills: "
                + ", ".join(f"{c} {fmt(v)}" for c, v in sorted(self.cash_unexplained.items()))
            )
        if self.breaches:
            parts.append("BREACHES: " + "; ".join(self.breaches))
        return ", ".join(parts)


def reconcile(
    store: EventStore, broker: Broker, modes: ModeController, *, now: datetime, symbols: list[str]
) -> ReconcileReport:
    """Bring the store in line with the venue; raises BrokerError if the venue cannot be read
    (then nothing was decided, and the caller must not trade)."""
    report = ReconcileReport()
    venue_orders = broker.list_orders(open_only=False)
    by_client: dict[str, Any] = {}
    doubled = Counter(o.client_order_id for o in venue_orders if o.client_order_id)
    for order in venue_orders:
        by_client.setdefault(order.client_order_id, order)
    for client_id, count in doubled.items():
        if count > 1:
            report.breaches.append(f"client order id {client_id} stands for {count} venue orders")

    for order in store.list_orders(open_only=True):
        venue = by_client.get(order.client_order_id) or broker.find_order_by_client_id(
            order.client_order_id
        )
        if venue is not None:
            store.upsert_order(venue)
            if venue.status is not order.status:
                report.resolved[order.client_order_id] = venue.status.value
            continue
        if order.status is OrderStatus.INITIALIZED:
            order.apply(OrderEvent.CANCEL, now, reason="never sent (found at start)")
        elif order.status is OrderStatus.SUBMITTED:
            order.apply(OrderEvent.FAIL, now, reason="unknown to the venue (found at start)")
        else:
            report.breaches.append(
                f"order {order.client_order_id} is {order.status.value} in the store but "
                "unknown to the venue"
            )
            continue
        store.upsert_order(order)
        report.resolved[order.client_order_id] = order.status.value

    known = {o.client_order_id for o in store.list_orders()}
    for order in venue_orders:
        if order.status.is_working and order.client_order_id not in known:
            store.upsert_order(order)
            report.adopted.append(order.order_id)

    stored_fills = store.list_fills()
    since = stored_fills[-1].time - FILL_LOOKBACK if stored_fills else None
    balances = _fills_and_balances(store, broker, report, since)

    books = store.positions()
    venue_positions = {p.symbol: p.quantity for p in broker.list_positions()}
    for symbol, position in books.items():
        held = venue_positions.get(symbol, ZERO)
        if held + Decimal("1e-12") < position.quantity:
            report.breaches.append(
                f"{symbol}: the venue holds {fmt(held)} but the bot's fills add up to "
                f"{fmt(position.quantity)}"
            )
        elif held > position.quantity and symbol in symbols:
            report.outside_holdings[symbol] = held - position.quantity
    for symbol, held in venue_positions.items():
        if symbol not in books and held != ZERO and symbol in symbols:
            report.outside_holdings[symbol] = held

    if balances is not None:
        _check_cash(store, broker, report, balances, now=now, symbols=symbols)

    severity = "critical" if report.breaches else "warning" if report.cash_unexplained else "info"
    store.append_event(
        "reconcile",
        ts=now,
        severity=severity,
        message=f"reconciliation {'FAILED' if report.breaches else 'ok'}: {report.summary()}",
        payload={
            "resolved": report.resolved,
            "adopted": report.adopted,
            "fills_applied": report.fills_applied,
            "outside_holdings": report.outside_holdings,
            "cash_unexplained": report.cash_unexplained,
            "breaches": report.breaches,
            "sev": "SEV-1" if report.breaches else None,
        },
    )
    if report.breaches:
        modes.set_latch(
            "reduce_only",
            True,
            now=now,
            set_by=SET_BY,
            reason="reconciliation breach: " + report.breaches[0],
        )
        log.critical(
            "reconciliation breach [SEV-1]: %s; reduce-only until cleared",
            "; ".join(report.breaches),
        )
    elif report.cash_unexplained:
        log.warning("reconciliation ok, but %s", report.summary())
    else:
        log.info("reconciliation ok: %s", report.summary())
    for order_id in report.adopted:
        log.warning("adopted order %s placed outside the bot", order_id)
    store.commit()
    return report


def _fills_and_balances(
    store: EventStore, broker: Broker, report: ReconcileReport, since: datetime | None
) -> list[Balance] | None:
    """Apply the venue's fills the store lacks, and read balances consistent with them: the
    fills are read again after the balances, and the pair read anew if one landed in between.
    None when the venue kept filling through three tries (the cash check waits a pass)."""

    def apply(fills: list[Fill]) -> set[str]:
        for fill in fills:
            if store.record_fill(fill):
                report.fills_applied += 1
        return {f.fill_id for f in fills}

    seen: set[str] = apply(broker.list_fills(since=since))
    for _ in range(3):
        balances = broker.list_balances()
        again = apply(broker.list_fills(since=since))
        if again <= seen:
            return balances
        seen |= again
    return None


def _check_cash(
    store: EventStore,
    broker: Broker,
    report: ReconcileReport,
    balances: list[Balance],
    *,
    now: datetime,
    symbols: list[str],
) -> None:
    """Per quote currency of the bot's symbols: venue cash now minus the baseline's must equal
    the cash flow of the fills stored since (buys pay notional and fee, sells receive notional
    less fee). Records the new baseline (pending until the caller commits)."""
    currencies = sorted({s.rsplit("-", 1)[-1] for s in symbols if "-" in s})
    if not currencies:
        return
    flows = dict.fromkeys(currencies, ZERO)
    for fill in store.list_fills():
        currency = fill.symbol.rsplit("-", 1)[-1]
        if currency in flows:
            flows[currency] += fill.cash_flow
    cash = dict.fromkeys(currencies, ZERO)
    for balance in balances:
        if balance.currency in cash:
            cash[balance.currency] += balance.total
    saved = store.get_state(CASH_STATE) or {}
    for currency in currencies:
        base = saved.get(currency) if isinstance(saved, dict) else None
        if not isinstance(base, dict):
            continue
        try:
            expected = Decimal(base["cash"]) + flows[currency] - Decimal(base["flows"])
        except (KeyError, TypeError, ArithmeticError):
            continue  # an unreadable baseline: start a new one
        drift = cash[currency] - expected
        if abs(drift) <= CASH_TOLERANCE:
            continue
        report.cash_unexplained[currency] = drift
        if not getattr(broker, "cash_moves_outside", True):
            report.breaches.append(
                f"{currency}: cash moved by {fmt(drift)} that no fill explains, on a venue where "
                "only the bot's fills move it"
            )
    store.set_state(
        CASH_STATE,
        {c: {"cash": cash[c], "flows": flows[c]} for c in currencies},
        now,
    )


def reconcile_with_retries(
    store: EventStore,
    broker: Broker,
    modes: ModeController,
    *,
    now: datetime,
    symbols: list[str],
    attempts: int = 3,
) -> ReconcileReport | None:
    """None when the venue could not be read after ``attempts`` tries (the caller halts)."""
    for attempt in range(1, attempts + 1):
        try:
            return reconcile(store, broker, modes, now=now, symbols=symbols)
        except BrokerError as exc:
            store.rollback()
            log.error(
                "reconciliation attempt %d failed (%s): %s", attempt, exc.kind.value, exc.message
            )
    return None
