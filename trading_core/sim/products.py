"""The simulated venue's product table: Coinbase-like increments plus the simulation parameters.

``default_products()`` is the top-ten USD spot universe. ``product_for(symbol)`` also answers
for any other well-formed symbol: unknown spot symbols (such as ``S042-USD`` in the 100-symbol
benchmark) get a synthetic product derived deterministically from the symbol text (sha256,
never ``hash()``), and perpetual symbols (``BTC-PERP``, ``BTC-PERP-INTX``) get a
``ProductType.PERP`` product that the market quotes but the matching engine refuses to trade
(perpetuals come with a later issue).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from decimal import Decimal

from ..domain import Product, ProductType, is_perp_symbol, validate_symbol
from ..errors import UnknownProduct

USD_LIKE = ("USD", "USDC", "USDT")


@dataclass(frozen=True, slots=True)
class SymbolProfile:
    """How the simulator moves and quotes one product (floats: these drive the random walk only).

    ``start_price`` is the mid at a fresh market's start, ``annual_vol`` the GBM volatility,
    ``spread_bps`` the quoted bid/ask spread, ``top_depth_usd`` the notional of the synthetic book's
    best level (deeper levels grow from it) and ``level_step_bps`` the price gap between levels."""

    start_price: float
    annual_vol: float
    spread_bps: float
    top_depth_usd: float
    level_step_bps: float


def _d(text: str) -> Decimal:
    return Decimal(text)


# symbol: (base_increment, quote_increment, base_max_size, start, vol, spread_bps, top_depth_usd)
_TOP_TEN: dict[str, tuple[str, str, str, float, float, float, float]] = {
    "BTC-USD": ("0.00000001", "0.01", "3400", 95_000.0, 0.55, 1.0, 60_000.0),
    "ETH-USD": ("0.00000001", "0.01", "38000", 3_400.0, 0.70, 2.0, 40_000.0),
    "SOL-USD": ("0.00000001", "0.01", "250000", 180.0, 0.90, 4.0, 20_000.0),
    "XRP-USD": ("0.000001", "0.0001", "50000000", 2.2, 0.85, 5.0, 15_000.0),
    "LTC-USD": ("0.00000001", "0.01", "400000", 100.0, 0.75, 6.0, 10_000.0),
    "ADA-USD": ("0.00000001", "0.0001", "50000000", 0.9, 0.85, 6.0, 10_000.0),
    "DOGE-USD": ("0.1", "0.00001", "300000000", 0.3, 0.95, 5.0, 12_000.0),
    "BCH-USD": ("0.00000001", "0.01", "100000", 450.0, 0.80, 8.0, 8_000.0),
    "AVAX-USD": ("0.00000001", "0.01", "1000000", 35.0, 0.95, 8.0, 8_000.0),
    "LINK-USD": ("0.01", "0.001", "2000000", 20.0, 0.90, 7.0, 8_000.0),
}

MIN_NOTIONAL_USD = Decimal("1")


def _min_size(increment: Decimal) -> Decimal:
    """Coarse-increment coins (DOGE, LINK) have a minimum of ten increments, others one."""
    return increment * 10 if increment >= Decimal("0.01") else increment


def _spot_product(symbol: str, base_inc: str, quote_inc: str, max_size: str) -> Product:
    base, quote = symbol.split("-", 1)
    increment = _d(base_inc)
    return Product(
        symbol=symbol,
        base_currency=base,
        quote_currency=quote,
        base_increment=increment,
        quote_increment=_d(quote_inc),
        base_min_size=_min_size(increment),
        base_max_size=_d(max_size),
        min_notional=MIN_NOTIONAL_USD,
    )


def default_products() -> dict[str, Product]:
    """The top-ten USD spot universe the simulator knows by name (symbol -> Product)."""
    return {sym: _spot_product(sym, *row[:3]) for sym, row in _TOP_TEN.items()}


def _unit_floats(symbol: str) -> list[float]:
    """Eight deterministic floats in [0, 1) drawn from the symbol's sha256 digest."""
    digest = hashlib.sha256(symbol.encode("utf-8")).digest()
    return [int.from_bytes(digest[i : i + 4], "big") / 2**32 for i in range(0, 32, 4)]


def _synthetic_row(symbol: str) -> tuple[str, str, str, float, float, float, float]:
    u = _unit_floats(symbol)
    price = 10 ** (-1.0 + 4.0 * u[0])  # 0.1 .. 1000, log-uniform
    magnitude = math.floor(math.log10(price))
    quote_exp = min(-2, magnitude - 4)  # about five significant digits per tick, at most 0.01
    base_exp = -max(0, min(8, magnitude + 2))
    max_size = 10 ** max(3, 8 - magnitude)
    return (
        format(Decimal(1).scaleb(base_exp), "f"),
        format(Decimal(1).scaleb(quote_exp), "f"),
        str(max_size),
        float(f"{price:.6g}"),
        round(0.5 + 0.5 * u[1], 4),
        round(3.0 + 7.0 * u[2], 2),
        round(5_000.0 + 10_000.0 * u[3], 0),
    )


def _row_for(symbol: str) -> tuple[str, str, str, float, float, float, float]:
    if symbol in _TOP_TEN:
        return _TOP_TEN[symbol]
    base, _, quote = symbol.partition("-")
    if quote in USD_LIKE and f"{base}-USD" in _TOP_TEN:
        return _TOP_TEN[f"{base}-USD"]
    return _synthetic_row(symbol)


def _canonical(symbol: str) -> str:
    try:
        return validate_symbol(symbol)
    except ValueError as exc:
        raise UnknownProduct(str(exc)) from None


def product_for(symbol: str) -> Product:
    """The Product for any well-formed symbol (UnknownProduct for a malformed one).

    Perpetual symbols get ``ProductType.PERP`` and the base asset's spot increments; the market
    quotes them, but ``MatchingEngine`` rejects their orders with ``PERPETUALS_NOT_SIMULATED``
    until perpetuals are simulated (a later issue)."""
    canonical = _canonical(symbol)
    if is_perp_symbol(canonical):
        base = canonical.split("-", 1)[0]
        base_inc, quote_inc, max_size, *_ = _row_for(f"{base}-USD")
        return Product(
            symbol=canonical,
            base_currency=base,
            quote_currency="USDC",
            base_increment=_d(base_inc),
            quote_increment=_d(quote_inc),
            base_min_size=_min_size(_d(base_inc)),
            base_max_size=_d(max_size),
            min_notional=MIN_NOTIONAL_USD,
            product_type=ProductType.PERP,
        )
    base_inc, quote_inc, max_size, *_ = _row_for(canonical)
    return _spot_product(canonical, base_inc, quote_inc, max_size)


def profile_for(symbol: str) -> SymbolProfile:
    """Simulation parameters for ``symbol`` (perps use their base asset's spot profile)."""
    canonical = _canonical(symbol)
    if is_perp_symbol(canonical):
        canonical = canonical.split("-", 1)[0] + "-USD"
    _, _, _, price, vol, spread, depth = _row_for(canonical)
    return SymbolProfile(
        start_price=price,
        annual_vol=vol,
        spread_bps=spread,
        top_depth_usd=depth,
        level_step_bps=max(1.0, spread / 2.0),
    )
