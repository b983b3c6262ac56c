"""The Coinbase Advanced Trade adapter: the Broker protocol over the SDK's ``RESTClient`` and our
own WebSocket streaming client. ``open_coinbase_broker(settings)`` builds one from a profile.

Importing this package is cheap; the SDK, requests and websockets load when a broker is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .broker import CoinbaseBroker, open_coinbase_broker

__all__ = ["CoinbaseBroker", "open_coinbase_broker"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import broker

        return getattr(broker, name)
    raise AttributeError(name)
