"""Risk: protective modes and pre-trade checks (runtime guards come with their own issue)."""

from .modes import TradingModes
from .pretrade import PreTradeRisk, RiskContext, RiskDecision, increases_exposure

__all__ = ["PreTradeRisk", "RiskContext", "RiskDecision", "TradingModes", "increases_exposure"]
