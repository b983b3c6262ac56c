"""The Broker protocol: the port every venue adapter implements (paper now, Coinbase later).

Conventions every adapter keeps:
- Decimal for every price, size, fee and balance; aware UTC datetimes.
- Failures raise trading_core.errors.BrokerError subclasses whose ``kind`` says how to treat them
  (OrderRejected for venue rejections, UnknownProduct, OrderNotFound, plain BrokerError with
  kind RETRYABLE / RATE_LIMITED / AUTH / FATAL otherwise). Nothing else escapes.
- ``submit_order`` is idempotent on ``client_order_id``: submitting a request whose client id the
  venue already knows returns the existing order instead of placing a second one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

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


@runtime_checkable
class Broker(Protocol):
    name: str

    # --- reference and market data -------------------------------------------------------
    def server_time(self) -> datetime: ...

    def list_products(self) -> list[Product]: ...

    def get_product(self, symbol: str) -> Product: ...

    def get_quote(self, symbol: str) -> Quote: ...

    def get_order_book(self, symbol: str, depth: int = 10) -> OrderBook: ...

    def get_candles(
        self, symbol: str, granularity_s: int, limit: int = 300, end: datetime | None = None
    ) -> list[Candle]:
        """Closed candles, oldest first, at most ``limit`` of them ending at or before ``end``."""
        ...

    # --- account ---------------------------------------------------------------------------
    def list_balances(self) -> list[Balance]: ...

    def list_positions(self) -> list[Position]:
        """Open (non-zero) positions. On spot: base-currency holdings of the traded products."""
        ...

    # --- orders ----------------------------------------------------------------------------
    def preview_order(self, request: OrderRequest) -> OrderPreview: ...

    def submit_order(self, request: OrderRequest) -> Order: ...

    def preview_edit(
        self, order_id: str, *, limit_price: Decimal | None = None, base_size: Decimal | None = None
    ) -> OrderPreview: ...

    def edit_order(
        self,
        order_id: str,
        *,
        limit_price: Decimal | None = None,
        base_size: Decimal | None = None,
        preview_id: str | None = None,
    ) -> Order: ...

    def cancel_orders(self, order_ids: Sequence[str]) -> dict[str, bool]:
        """Cancel each order; maps order id -> whether the cancel succeeded."""
        ...

    def get_order(self, order_id: str) -> Order: ...

    def find_order_by_client_id(self, client_order_id: str) -> Order | None: ...

    def list_orders(
        self, symbol: str | None = None, *, open_only: bool = False, since: datetime | None = None
    ) -> list[Order]: ...

    def list_fills(
        self,
        symbol: str | None = None,
        *,
        order_id: str | None = None,
        since: datetime | None = None,
    ) -> list[Fill]:
        """Fills oldest first (``since`` is exclusive)."""
        ...


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """One streaming feed (e.g. "ticker", "level2", "user") as a venue adapter sees it."""

    connected: bool
    last_message_at: datetime | None
    reconnects: int = 0
    gaps: int = 0  # sequence gaps detected (each followed by a resync)


@dataclass(frozen=True, slots=True)
class BrokerStats:
    """Counters an adapter may expose through an optional ``stats()`` method (telemetry reads
    them; brokers without one simply have no API/feed metrics). Counts are cumulative."""

    requests: dict[tuple[str, str], int] = field(default_factory=dict)  # (endpoint, status) -> n
    rate_limit_remaining: float | None = None  # from the venue's rate-limit headers
    feeds: dict[str, FeedStatus] = field(default_factory=dict)
    last_message_at: dict[str, datetime] = field(default_factory=dict)  # per symbol, any feed
