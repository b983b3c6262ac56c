"""Decimal money, quantization to increments, positions from fills."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trading_core.domain import (
    Fill,
    Liquidity,
    OrderRequest,
    OrderSide,
    OrderType,
    Position,
    Product,
    TimeInForce,
    positions_from_fills,
    to_decimal,
)
from trading_core.errors import OrderRefused
from trading_core.execution import quantize_price, quantize_request, quantize_size

BTC = Product(
    symbol="BTC-USD",
    base_currency="BTC",
    quote_currency="USD",
    base_increment=Decimal("0.00000001"),
    quote_increment=Decimal("0.01"),
    base_min_size=Decimal("0.00001"),
    base_max_size=Decimal("1000"),
    min_notional=Decimal("1"),
)
DOGE = Product(
    symbol="DOGE-USD",
    base_currency="DOGE",
    quote_currency="USD",
    base_increment=Decimal("0.1"),
    quote_increment=Decimal("0.00001"),
    base_min_size=Decimal("1"),
    base_max_size=Decimal("10000000"),
    min_notional=Decimal("1"),
)


def test_to_decimal() -> None:
    assert to_decimal("0.1") == Decimal("0.1")
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal(3) == Decimal(3)
    for bad in ("abc", "NaN", "Infinity", True, None):
        with pytest.raises(ValueError):
            to_decimal(bad, field="price")


def test_price_rounding_never_pays_more() -> None:
    assert quantize_price(Decimal("100.019"), OrderSide.BUY, BTC) == Decimal("100.01")
    assert quantize_price(Decimal("100.011"), OrderSide.SELL, BTC) == Decimal("100.02")
    assert quantize_price(Decimal("100.01"), OrderSide.BUY, BTC) == Decimal("100.01")
    assert quantize_price(Decimal("100.01"), OrderSide.SELL, BTC) == Decimal("100.01")
    assert quantize_price(Decimal("0.123456"), OrderSide.BUY, DOGE) == Decimal("0.12345")
    assert quantize_price(Decimal("0.123451"), OrderSide.SELL, DOGE) == Decimal("0.12346")


def test_size_always_rounds_down() -> None:
    assert quantize_size(Decimal("0.123456789"), BTC) == Decimal("0.12345678")
    assert quantize_size(Decimal("12.99"), DOGE) == Decimal("12.9")


def _market(product: Product, size: str, side: OrderSide = OrderSide.BUY) -> OrderRequest:
    return OrderRequest(
        "c",
        product.symbol,
        side,
        OrderType.MARKET,
        base_size=Decimal(size),
        time_in_force=TimeInForce.IOC,
    )


def test_below_minimum_is_refused_not_bumped() -> None:
    with pytest.raises(OrderRefused) as info:
        quantize_request(_market(DOGE, "0.95"), DOGE, Decimal("0.3"))
    assert info.value.reason == "BELOW_MIN_SIZE"
    with pytest.raises(OrderRefused) as info:
        quantize_request(_market(DOGE, "3"), DOGE, Decimal("0.3"))  # $0.90 < $1
    assert info.value.reason == "BELOW_MIN_NOTIONAL"
    ok = quantize_request(_market(DOGE, "3.99"), DOGE, Decimal("0.3"))
    assert ok.base_size == Decimal("3.9")
    with pytest.raises(OrderRefused) as info:
        quantize_request(_market(BTC, "2000"), BTC, Decimal("1"))
    assert info.value.reason == "ABOVE_MAX_SIZE"


def test_limit_request_quantized_both_ways() -> None:
    buy = OrderRequest(
        "c",
        "BTC-USD",
        OrderSide.BUY,
        OrderType.LIMIT,
        base_size=Decimal("0.0100000099"),
        limit_price=Decimal("65000.019"),
    )
    sell = OrderRequest(
        "c",
        "BTC-USD",
        OrderSide.SELL,
        OrderType.LIMIT,
        base_size=Decimal("0.0100000099"),
        limit_price=Decimal("65000.011"),
    )
    assert quantize_request(buy, BTC, Decimal(0)).limit_price == Decimal("65000.01")
    assert quantize_request(sell, BTC, Decimal(0)).limit_price == Decimal("65000.02")
    assert quantize_request(sell, BTC, Decimal(0)).base_size == Decimal("0.01000000")


def _fill(fid: str, side: OrderSide, size: str, price: str, minutes: int, fee: str = "0") -> Fill:
    return Fill(
        fid,
        "o",
        "c",
        "BTC-USD",
        side,
        Decimal(price),
        Decimal(size),
        Decimal(fee),
        Liquidity.TAKER,
        datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes),
    )


def test_position_accounting() -> None:
    fills = [
        _fill("1", OrderSide.BUY, "1", "100", 0, "1.2"),
        _fill("2", OrderSide.BUY, "1", "110", 1, "1.32"),
        _fill("3", OrderSide.SELL, "1.5", "120", 2, "2.16"),
    ]
    pos = positions_from_fills(fills)["BTC-USD"]
    assert pos.quantity == Decimal("0.5")
    assert pos.avg_entry_price == Decimal("105")
    assert pos.realized_pnl == Decimal("22.5")
    assert pos.fees == Decimal("4.68")
    assert pos.unrealized_pnl(Decimal("100")) == Decimal("-2.5")
    flat = pos.apply_fill(_fill("4", OrderSide.SELL, "0.5", "90", 3))
    assert flat.is_flat and flat.avg_entry_price == 0
    assert flat.realized_pnl == Decimal("15")


def test_position_flip_reopens_at_fill_price() -> None:
    pos = Position("BTC-USD").apply_fill(_fill("1", OrderSide.BUY, "1", "100", 0))
    flipped = pos.apply_fill(_fill("2", OrderSide.SELL, "3", "110", 1))
    assert flipped.quantity == Decimal("-2")
    assert flipped.avg_entry_price == Decimal("110")
    assert flipped.realized_pnl == Decimal("10")
