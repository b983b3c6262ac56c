"""Simulated account balances: per currency, what is available and what working orders hold."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..domain import ZERO, Balance, to_decimal


class Accounts:
    """Balances per currency (upper-case code -> Decimal): ``available`` to trade and ``hold``
    reserved by working orders. Callers check funds first; this class only moves amounts."""

    def __init__(self, starting: Mapping[str, Decimal | int | str] | None = None) -> None:
        self._available: dict[str, Decimal] = {}
        self._hold: dict[str, Decimal] = {}
        self._listing: list[Balance] | None = None  # balances() until the next change
        for currency, amount in (starting or {}).items():
            value = to_decimal(amount, field=f"starting balance {currency}")
            if value < ZERO:
                raise ValueError(f"starting balance {currency} must not be negative")
            self._available[currency.strip().upper()] = value

    def available(self, currency: str) -> Decimal:
        return self._available.get(currency, ZERO)

    def held(self, currency: str) -> Decimal:
        return self._hold.get(currency, ZERO)

    def place_hold(self, currency: str, amount: Decimal) -> None:
        self._add(self._available, currency, -amount)
        self._add(self._hold, currency, amount)

    def release_hold(self, currency: str, amount: Decimal) -> None:
        self._add(self._hold, currency, -amount)
        self._add(self._available, currency, amount)

    def spend_hold(self, currency: str, amount: Decimal) -> None:
        self._add(self._hold, currency, -amount)

    def credit(self, currency: str, amount: Decimal) -> None:
        self._add(self._available, currency, amount)

    def debit(self, currency: str, amount: Decimal) -> None:
        self._add(self._available, currency, -amount)

    def _add(self, book: dict[str, Decimal], currency: str, amount: Decimal) -> None:
        """The one place amounts change (zero kept as plain 0, the listing cache dropped)."""
        value = book.get(currency, ZERO) + amount
        book[currency] = ZERO if value == ZERO else value
        self._listing = None

    def balances(self) -> list[Balance]:
        """Every currency the account has touched, sorted by code."""
        listing = self._listing
        if listing is None:
            currencies = sorted(set(self._available) | set(self._hold))
            listing = [Balance(c, self.available(c), self.held(c)) for c in currencies]
            self._listing = listing
        return list(listing)

    def to_state(self) -> dict[str, Any]:
        return {
            b.currency: {"available": format(b.available, "f"), "hold": format(b.hold, "f")}
            for b in self.balances()
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Mapping[str, str]]) -> Accounts:
        accounts = cls()
        for currency, amounts in state.items():
            accounts._available[currency] = Decimal(amounts["available"])
            accounts._hold[currency] = Decimal(amounts["hold"])
        return accounts
