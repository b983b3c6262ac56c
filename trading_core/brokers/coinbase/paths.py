"""Advanced Trade API paths: the prefix, and route-shaped labels for counters (ids replaced by
``{id}``), shared by the adapter and the simulator so both count requests under the same names."""

from __future__ import annotations

API_PREFIX = "/api/v3/brokerage"
FIXED_SEGMENTS = frozenset(
    {
        "accounts",
        "products",
        "candles",
        "ticker",
        "orders",
        "historical",
        "batch",
        "fills",
        "preview",
        "edit_preview",
        "edit",
        "batch_cancel",
        "close_position",
        "best_bid_ask",
        "product_book",
        "transaction_summary",
        "key_permissions",
        "portfolios",
        "intx",
        "portfolio",
        "positions",
        "balances",
        "market",
        "time",
    }
)


def endpoint_label(path: str) -> str:
    """``/orders/historical/{id}`` for ``/api/v3/brokerage/orders/historical/abc``."""
    parts = path.removeprefix(API_PREFIX).strip("/").split("/")
    return "/" + "/".join(p if p in FIXED_SEGMENTS else "{id}" for p in parts if p)
