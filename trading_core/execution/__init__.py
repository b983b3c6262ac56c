"""Execution: sizing, quantization, client order ids and the order executor."""

from .client_ids import client_order_id
from .executor import ExecutionResult, OrderExecutor, Outcome, describe
from .quantize import quantize_price, quantize_request, quantize_size
from .sizing import base_size_for, entry_notional

__all__ = [
    "ExecutionResult",
    "OrderExecutor",
    "Outcome",
    "base_size_for",
    "client_order_id",
    "describe",
    "entry_notional",
    "quantize_price",
    "quantize_request",
    "quantize_size",
]
