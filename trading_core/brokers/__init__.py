"""Broker port and adapters."""

from .base import Broker

__all__ = ["Broker"]
