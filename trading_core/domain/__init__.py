"""Value types shared by every part of trading_core."""

from .account import Balance, Fill, Liquidity, Position, positions_from_fills
from .market import BookLevel, Candle, OrderBook, Quote
from .money import ZERO, ceil_to, floor_to, fmt, is_multiple, to_decimal
from .orders import (
    TRANSITIONS,
    Order,
    OrderEvent,
    OrderPreview,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    StopDirection,
    TimeInForce,
    next_status,
)
from .product import Product, ProductType, is_perp_symbol, validate_symbol

__all__ = [
    "TRANSITIONS",
    "ZERO",
    "Balance",
    "BookLevel",
    "Candle",
    "Fill",
    "Liquidity",
    "Order",
    "OrderBook",
    "OrderEvent",
    "OrderPreview",
    "OrderRequest",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "Position",
    "Product",
    "ProductType",
    "Quote",
    "StopDirection",
    "TimeInForce",
    "ceil_to",
    "floor_to",
    "fmt",
    "is_multiple",
    "is_perp_symbol",
    "next_status",
    "positions_from_fills",
    "to_decimal",
    "validate_symbol",
]
