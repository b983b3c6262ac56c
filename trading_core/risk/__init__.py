"""Risk: protective modes and pre-trade checks (runtime guards come with their own issue)."""

from .exposure import increases_exposure
from .modes import TradingModes
from .pretrade import PreTradeRisk, RiskContext, RiskDecision

__all__ = ["PreTradeRisk", "RiskContext", "RiskDecision", "TradingModes", "increases_exposure"]
