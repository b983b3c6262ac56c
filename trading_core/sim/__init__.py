"""The simulated venue shared by paper trading, the Coinbase-compatible local server and replays.

- ``SimulatedMarket``: deterministic random-walk market with named scenarios.
- ``ReplayMarket``: the same interface driven by a real candle CSV.
- ``MatchingEngine``: balances, orders, fills and positions against either market.
"""

from .accounts import Accounts
from .engine import FeeSchedule, MatchingEngine, load_market
from .feed import GRANULARITIES, MarketBase
from .market import SimulatedMarket
from .products import SymbolProfile, default_products, product_for, profile_for
from .replay import ReplayMarket, infer_symbol, load_candle_file, replay_start_time
from .scenarios import SCENARIOS, PriceMove, Scenario, get_scenario

__all__ = [
    "GRANULARITIES",
    "SCENARIOS",
    "Accounts",
    "FeeSchedule",
    "MarketBase",
    "MatchingEngine",
    "PriceMove",
    "ReplayMarket",
    "Scenario",
    "SimulatedMarket",
    "SymbolProfile",
    "default_products",
    "get_scenario",
    "infer_symbol",
    "load_candle_file",
    "load_market",
    "product_for",
    "profile_for",
    "replay_start_time",
]
