"""Broker port and adapters."""

from .base import Broker, BrokerStats, FeedStatus

__all__ = ["Broker", "BrokerStats", "FeedStatus"]
