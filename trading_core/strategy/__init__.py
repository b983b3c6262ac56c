"""Strategies: the interface and the baseline MA crossover with trailing stop."""

from .base import Action, Signal, Strategy
from .ma_crossover import MaCrossoverStrategy

__all__ = ["Action", "MaCrossoverStrategy", "Signal", "Strategy"]
