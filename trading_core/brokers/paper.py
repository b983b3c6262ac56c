"""``PaperBroker``: the Broker protocol over the in-process simulated venue (trading_core.sim).

Every call first moves the simulated market to the injected clock's time (a no-op when the clock
has not moved), so a runner only has to advance its clock. ``open``/``save`` keep the whole venue
(market, balances, orders, fills, positions) in one JSON file between runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from ..clock import Clock
from ..domain import (
    Balance,
    Candle,
    Fill,
    Order,
    OrderBook,
    OrderPreview,
    OrderRequest,
    Position,
    Product,
    Quote,
)
from ..errors import DataError
from ..jsonutil import atomic_write_text, to_jsonable
from ..sim.engine import FeeSchedule, MatchingEngine
from ..sim.market import SimulatedMarket
from ..sim.replay import ReplayMarket
from ..sim.scenarios import get_scenario


class PaperBroker:
    """A Broker backed by a ``MatchingEngine``; ``state_path`` is where ``save`` writes."""

    def __init__(
        self,
        engine: MatchingEngine,
        clock: Clock,
        name: str = "paper",
        *,
        state_path: Path | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.name = name
        self.state_path = state_path

    # --- lifecycle -----------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        state_path: Path,
        *,
        symbols: Iterable[str],
        scenario: str = "calm",
        seed: int = 42,
        clock: Clock,
        starting_balances: Mapping[str, Decimal | int | str] | None = None,
        market_data: Path | None = None,
        fees: FeeSchedule | None = None,
        name: str = "paper",
    ) -> PaperBroker:
        """Continue the venue saved at ``state_path`` if the file exists, else start a fresh one:
        a simulated market starting at ``clock.now()``, or a replay of ``market_data`` (a candle
        CSV) starting at its first candle (start the runner's clock at ``replay_start_time``).

        On a restore, ``seed`` and ``starting_balances`` are those saved; a different ``scenario``
        takes over from now with prices and balances kept; new ``symbols`` are added (symbols no
        longer asked for stay in the state)."""
        state_path = Path(state_path)
        symbols = list(symbols)
        get_scenario(scenario)  # an unknown name is a ValueError listing the choices
        if state_path.exists():
            try:
                state = json.loads(state_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise DataError(f"{state_path}: cannot read paper state: {exc}") from None
            saved_market = state.get("market") if isinstance(state, dict) else None
            kind = saved_market.get("kind") if isinstance(saved_market, dict) else None
            if kind == "sim" and market_data is not None:
                raise DataError(f"{state_path}: holds a simulated market, not a replay")
            try:
                engine = MatchingEngine.from_state(
                    state, scenario=scenario, now=clock.now(), market_data=market_data, fees=fees
                )
            except (AttributeError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
                raise DataError(f"{state_path}: cannot restore paper state: {exc!r}") from None
        else:
            if market_data is not None:
                market: SimulatedMarket | ReplayMarket = ReplayMarket(market_data, seed=seed)
            else:
                market = SimulatedMarket(symbols, scenario=scenario, seed=seed, start=clock.now())
            engine = MatchingEngine(market, starting_balances=starting_balances, fees=fees)
        engine.market.add_symbols(symbols)
        return cls(engine, clock, name, state_path=state_path)

    def save(self, path: Path | None = None) -> Path:
        """Write the venue's state atomically (to ``path`` or the ``state_path`` it was opened
        with); returns where it went."""
        target = Path(path) if path is not None else self.state_path
        if target is None:
            raise ValueError("no state path: pass one or open the broker with PaperBroker.open")
        self._sync()
        text = json.dumps(to_jsonable(self.engine.to_state()), separators=(",", ":"))
        atomic_write_text(target, text)
        return target

    def _sync(self) -> None:
        self.engine.advance_to(self.clock.now())

    # --- reference and market data -------------------------------------------------------------
    def server_time(self) -> datetime:
        self._sync()
        return self.engine.market.time

    def list_products(self) -> list[Product]:
        self._sync()
        return self.engine.market.products()

    def get_product(self, symbol: str) -> Product:
        self._sync()
        return self.engine.product(symbol)

    def get_quote(self, symbol: str) -> Quote:
        self._sync()
        return self.engine.quote(symbol)

    def get_order_book(self, symbol: str, depth: int = 10) -> OrderBook:
        self._sync()
        return self.engine.market.order_book(self.engine.product(symbol).symbol, depth)

    def get_candles(
        self, symbol: str, granularity_s: int, limit: int = 300, end: datetime | None = None
    ) -> list[Candle]:
        """Closed candles, oldest first, at most ``limit`` of them ending at or before ``end``."""
        self._sync()
        product = self.engine.product(symbol)
        return self.engine.market.candles(product.symbol, granularity_s, limit, end)

    # --- account -------------------------------------------------------------------------------
    def list_balances(self) -> list[Balance]:
        self._sync()
        return self.engine.list_balances()

    def list_positions(self) -> list[Position]:
        """Open (non-zero) positions: on spot, the holdings bought through this venue."""
        self._sync()
        return self.engine.list_positions()

    # --- orders --------------------------------------------------------------------------------
    def preview_order(self, request: OrderRequest) -> OrderPreview:
        self._sync()
        return self.engine.preview_order(request)

    def submit_order(self, request: OrderRequest) -> Order:
        self._sync()
        return self.engine.submit_order(request)

    def preview_edit(
        self, order_id: str, *, limit_price: Decimal | None = None, base_size: Decimal | None = None
    ) -> OrderPreview:
        self._sync()
        return self.engine.preview_edit(order_id, limit_price=limit_price, base_size=base_size)

    def edit_order(
        self,
        order_id: str,
        *,
        limit_price: Decimal | None = None,
        base_size: Decimal | None = None,
        preview_id: str | None = None,
    ) -> Order:
        self._sync()
        return self.engine.edit_order(
            order_id, limit_price=limit_price, base_size=base_size, preview_id=preview_id
        )

    def cancel_orders(self, order_ids: Sequence[str]) -> dict[str, bool]:
        """Cancel each order; maps order id -> whether the cancel succeeded."""
        self._sync()
        return self.engine.cancel_orders(order_ids)

    def get_order(self, order_id: str) -> Order:
        self._sync()
        return self.engine.get_order(order_id)

    def find_order_by_client_id(self, client_order_id: str) -> Order | None:
        self._sync()
        return self.engine.find_order_by_client_id(client_order_id)

    def list_orders(
        self, symbol: str | None = None, *, open_only: bool = False, since: datetime | None = None
    ) -> list[Order]:
        self._sync()
        if symbol is not None:
            symbol = self.engine.product(symbol).symbol
        return self.engine.list_orders(symbol, open_only=open_only, since=since)

    def list_fills(
        self,
        symbol: str | None = None,
        *,
        order_id: str | None = None,
        since: datetime | None = None,
    ) -> list[Fill]:
        """Fills oldest first (``since`` is exclusive)."""
        self._sync()
        if symbol is not None:
            symbol = self.engine.product(symbol).symbol
        return self.engine.list_fills(symbol, order_id=order_id, since=since)
