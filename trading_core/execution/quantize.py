"""Fit orders to a product's increments. Buys round prices down and sells round them up (never
pay more, never sell for less than asked); sizes always round down; below the minimums an order
is refused, never bumped up."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from ..domain import OrderRequest, OrderSide, Product
from ..domain.money import ceil_to, floor_to, fmt
from ..errors import OrderRefused


def quantize_price(price: Decimal, side: OrderSide, product: Product) -> Decimal:
    if side is OrderSide.BUY:
        return floor_to(price, product.quote_increment)
    return ceil_to(price, product.quote_increment)


def quantize_size(size: Decimal, product: Product) -> Decimal:
    return floor_to(size, product.base_increment)


def quantize_request(
    request: OrderRequest, product: Product, reference_price: Decimal
) -> OrderRequest:
    """The request with price, stop and size on the product's grid; raises OrderRefused when the
    result is below the minimum size or notional. ``reference_price`` values market orders."""
    limit_price = request.limit_price
    stop_price = request.stop_price
    if limit_price is not None:
        limit_price = quantize_price(limit_price, request.side, product)
        if limit_price <= 0:
            raise OrderRefused(
                f"{request.symbol}: limit price rounds to zero", reason="PRICE_BELOW_INCREMENT"
            )
    if stop_price is not None:
        stop_price = quantize_price(stop_price, request.side, product)
    if request.base_size is None:
        quote_size = floor_to(request.quote_size or Decimal(0), product.quote_increment)
        if quote_size < product.min_notional or quote_size <= 0:
            raise OrderRefused(
                f"{request.symbol}: quote size {fmt(quote_size)} is below the minimum notional "
                f"{fmt(product.min_notional)}",
                reason="BELOW_MIN_NOTIONAL",
            )
        return replace(
            request, quote_size=quote_size, limit_price=limit_price, stop_price=stop_price
        )
    size = quantize_size(request.base_size, product)
    if size <= 0 or size < product.base_min_size:
        raise OrderRefused(
            f"{request.symbol}: size {fmt(request.base_size)} rounds to {fmt(size)}, below the "
            f"minimum {fmt(product.base_min_size)}",
            reason="BELOW_MIN_SIZE",
        )
    if size > product.base_max_size:
        raise OrderRefused(
            f"{request.symbol}: size {fmt(size)} is above the maximum {fmt(product.base_max_size)}",
            reason="ABOVE_MAX_SIZE",
        )
    value_price = limit_price if limit_price is not None else reference_price
    notional = size * value_price
    if notional < product.min_notional:
        raise OrderRefused(
            f"{request.symbol}: notional {fmt(notional.quantize(Decimal('0.01')))} is below the "
            f"minimum {fmt(product.min_notional)}",
            reason="BELOW_MIN_NOTIONAL",
        )
    return replace(request, base_size=size, limit_price=limit_price, stop_price=stop_price)
