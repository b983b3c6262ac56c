"""Coinbase REST answers, mutated: missing fields, wrong types, nulls, huge, negative and
non-numeric decimals, extra nesting. The codec raises only what the broker classifies
(KeyError, TypeError, ValueError, ArithmeticError, AttributeError); every CoinbaseBroker call
returns domain objects or raises a classified BrokerError with a one-line message."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from prop_support import FAST, assert_one_line, few, json_values, mutated, wire_numbers

from trading_core.brokers.coinbase import codec
from trading_core.brokers.coinbase.broker import CoinbaseBroker
from trading_core.brokers.coinbase.errors import CoinbaseError
from trading_core.domain import OrderRequest, OrderSide, OrderType, TimeInForce
from trading_core.errors import BrokerError, ErrorKind

#: what the broker's _decode turns into one FATAL "unexpected response shape" error
CODEC_ERRORS = (KeyError, TypeError, ValueError, ArithmeticError, AttributeError)

T0 = "2026-03-02T12:00:00.123456789Z"
PRODUCT = {
    "product_id": "BTC-USD",
    "base_increment": "0.00000001",
    "quote_increment": "0.01",
    "price_increment": "0.01",
    "base_min_size": "0.00000001",
    "base_max_size": "3400",
    "quote_min_size": "1",
    "base_currency_id": "BTC",
    "quote_currency_id": "USD",
    "product_type": "SPOT",
    "trading_disabled": False,
}
PRICEBOOK = {
    "product_id": "BTC-USD",
    "bids": [{"price": "49999", "size": "1"}],
    "asks": [{"price": "50001", "size": "2"}],
    "time": T0,
}
CANDLE = {"start": "1772452800", "low": "1", "high": "3", "open": "2", "close": "2", "volume": "9"}
ACCOUNT = {
    "currency": "BTC",
    "available_balance": {"value": "1.5", "currency": "BTC"},
    "hold": {"value": "0.1", "currency": "BTC"},
}
ORDER = {
    "order_id": "o-1",
    "client_order_id": "c-1",
    "product_id": "BTC-USD",
    "side": "BUY",
    "status": "OPEN",
    "created_time": T0,
    "last_fill_time": None,
    "order_configuration": {
        "stop_limit_stop_limit_gtd": {
            "base_size": "0.01",
            "limit_price": "50000",
            "stop_price": "49000",
            "stop_direction": "STOP_DIRECTION_STOP_DOWN",
            "end_time": "2026-03-03T00:00:00Z",
        }
    },
    "filled_size": "0",
    "filled_value": "0",
    "total_fees": "0",
}
FILL = {
    "entry_id": "f-1",
    "trade_id": "t-1",
    "order_id": "o-1",
    "product_id": "BTC-USD",
    "side": "BUY",
    "price": "50000",
    "size": "0.01",
    "commission": "0.5",
    "liquidity_indicator": "MAKER",
    "trade_time": T0,
    "sequence_timestamp": T0,
}
PREVIEW = {
    "preview_id": "p-1",
    "base_size": "0.01",
    "quote_size": "500",
    "average_filled_price": "50000",
    "commission_total": "0.5",
    "slippage": "0",
    "errs": ["PREVIEW_INSUFFICIENT_FUND"],
    "warning": ["BIG_ORDER"],
    "errors": [{"edit_failure_reason": "X", "preview_failure_reason": "PREVIEW_Y"}],
}

#: a valid answer per endpoint (the broker's label for it)
VALID: dict[str, dict[str, Any]] = {
    "/time": {"iso": T0, "epochSeconds": "1772452800"},
    "/products": {"products": [PRODUCT]},
    "/products/{id}": PRODUCT,
    "/best_bid_ask": {"pricebooks": [PRICEBOOK]},
    "/product_book": {"pricebook": PRICEBOOK},
    "/candles": {"candles": [CANDLE]},
    "/accounts": {"accounts": [ACCOUNT], "has_next": False, "cursor": ""},
    "/orders/historical/{id}": {"order": ORDER},
    "/orders/historical/batch": {"orders": [ORDER], "has_next": False, "cursor": ""},
    "/orders/historical/fills": {"fills": [FILL], "cursor": ""},
    "/orders/preview": PREVIEW,
    "/orders/edit_preview": PREVIEW,
    "/orders": {"success": True, "success_response": {"order_id": "o-1"}},
    "/orders/edit": {"success": True},
    "/orders/batch_cancel": {"results": [{"order_id": "o-1", "success": True}]},
    "/key_permissions": {
        "can_view": True,
        "can_trade": True,
        "can_transfer": False,
        "portfolio_uuid": "u-1",
        "portfolio_type": "INTX",
    },
    "/transaction_summary": {
        "fee_tier": {"pricing_tier": "1", "maker_fee_rate": "0.006", "taker_fee_rate": "0.012"},
        "total_volume": "0",
        "total_fees": "0",
    },
    "/portfolios": {"portfolios": [{"name": "Default", "uuid": "u-1", "type": "INTX"}]},
    "/intx/positions": {
        "positions": [
            {
                "symbol": "BTC-PERP-INTX",
                "net_size": "1",
                "position_side": "POSITION_SIDE_SHORT",
                "entry_vwap": {"value": "50000"},
            }
        ]
    },
    "/intx/portfolio": {"summary": {"total_balance": {"value": "10"}}},
}


def route(path: str) -> str:
    if path.startswith("/products/") and path.endswith("/candles"):
        return "/candles"
    if path.startswith("/products/"):
        return "/products/{id}"
    if path.startswith("/orders/historical/") and path not in (
        "/orders/historical/batch",
        "/orders/historical/fills",
    ):
        return "/orders/historical/{id}"
    if path.startswith("/intx/positions/"):
        return "/intx/positions"
    if path.startswith("/intx/portfolio/"):
        return "/intx/portfolio"
    return path


class FakeTransport:
    """RestTransport's contract (a JSON object back, or a classified error) with canned answers."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls = 0

    def _answer(self, path: str) -> dict[str, Any]:
        self.calls += 1
        assert self.calls < 500, "a broker call looped on garbage"
        body = self.answers[route(path)]
        if not isinstance(body, dict):  # what RestTransport.request does with a non-object
            raise CoinbaseError(
                f"{path}: expected a JSON object",
                kind=ErrorKind.FATAL,
                status="shape",
                endpoint=path,
            )
        return copy.deepcopy(body)

    def get(
        self, path: str, params: dict[str, Any] | None = None, *, public: bool = False
    ) -> dict[str, Any]:
        return self._answer(path)

    def post(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._answer(path)

    def counts(self) -> dict[tuple[str, str], int]:
        return {}

    rate_limit_remaining = None

    def close(self) -> None:
        return None


# --- mutations -----------------------------------------------------------------------------------
def answers_with(draw: st.DrawFn, endpoints: list[str]) -> dict[str, Any]:
    """The valid answers with some of ``endpoints`` mutated (at least one)."""
    answers: dict[str, Any] = dict(VALID)
    chosen = draw(st.lists(st.sampled_from(endpoints), min_size=1, max_size=3, unique=True))
    for endpoint in chosen:
        answers[endpoint] = draw(mutated(VALID[endpoint]))
    return answers


# --- codec level ---------------------------------------------------------------------------------
DECODERS: dict[str, tuple[dict[str, Any], Callable[[Any], Any]]] = {
    "product": (PRODUCT, codec.product_from),
    "pricebook": (PRICEBOOK, codec.quote_from_pricebook),
    "book": (PRICEBOOK, codec.book_from),
    "candle": (CANDLE, lambda d: codec.candle_from(d, "BTC-USD", 60)),
    "balance": (ACCOUNT, codec.balance_from),
    "order": (ORDER, codec.order_from),
    "fill": (FILL, lambda d: codec.fill_from(d, "c-1")),
    "preview": (
        PREVIEW,
        lambda d: codec.preview_from(
            d, symbol="BTC-USD", side=OrderSide.BUY, order_type=OrderType.LIMIT
        ),
    ),
    "edit_preview": (
        PREVIEW,
        lambda d: codec.preview_from(
            d,
            symbol="BTC-USD",
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            errors_key="errors",
        ),
    ),
}


@st.composite
def decoder_cases(draw: st.DrawFn) -> tuple[str, Any]:
    name = draw(st.sampled_from(sorted(DECODERS)))
    return name, draw(mutated(DECODERS[name][0]))


def test_valid_samples_decode() -> None:
    for name, (doc, decode) in DECODERS.items():
        assert decode(copy.deepcopy(doc)) is not None, name


@few(400)
@given(case=decoder_cases())
@example(case=("candle", {**CANDLE, "start": 10**30}))
@example(case=("candle", {**CANDLE, "start": "9" * 40}))
@example(case=("candle", {**CANDLE, "start": float("nan")}))
@example(case=("candle", {**CANDLE, "start": float("inf")}))
@example(case=("candle", {**CANDLE, "start": -(10**15)}))
@example(case=("candle", {**CANDLE, "start": "²"}))
@example(case=("fill", {**FILL, "trade_time": "2026-13-45T99:99:99Z"}))
@example(case=("pricebook", {**PRICEBOOK, "bids": [{"price": "1e999999999"}]}))
@example(
    case=(
        "pricebook",
        {**PRICEBOOK, "bids": [{"price": "9e999999"}], "asks": [{"price": "9e999999"}]},
    )
)
@example(case=("order", {**ORDER, "order_configuration": {"nope": {}}}))
@example(case=("order", {**ORDER, "order_configuration": {"limit_limit_gtc": "x"}}))
def test_codec_raises_only_what_the_broker_classifies(case: tuple[str, Any]) -> None:
    name, doc = case
    _, decode = DECODERS[name]
    with contextlib.suppress(CODEC_ERRORS):
        decode(doc)


@FAST
@given(text=st.one_of(wire_numbers, json_values(), st.text(max_size=40)))
@example(text="2026-03-02T12:00:00.Z")
@example(text="9999999999999999999999")
@example(text=True)
def test_parse_time_raises_value_errors_only(text: Any) -> None:
    try:
        when = codec.parse_time(text)
    except CODEC_ERRORS:
        return
    assert when.tzinfo is not None


# --- broker level --------------------------------------------------------------------------------
LIMIT = OrderRequest(
    client_order_id="c-1",
    symbol="BTC-USD",
    side=OrderSide.BUY,
    order_type=OrderType.LIMIT,
    base_size=Decimal("0.01"),
    limit_price=Decimal("50000"),
    time_in_force=TimeInForce.GTC,
)
SELL_REDUCE = OrderRequest(
    client_order_id="c-2",
    symbol="BTC-USD",
    side=OrderSide.SELL,
    order_type=OrderType.LIMIT,
    base_size=Decimal("0.5"),
    limit_price=Decimal("50000"),
    reduce_only=True,
)
END = datetime(2026, 3, 2, 12, 5, tzinfo=UTC)

CALLS: dict[str, tuple[Callable[[CoinbaseBroker], Any], list[str]]] = {
    "server_time": (lambda b: b.server_time(), ["/time"]),
    "list_products": (lambda b: b.list_products(), ["/products"]),
    "get_product": (lambda b: b.get_product("BTC-USD"), ["/products/{id}"]),
    "get_quote": (lambda b: b.get_quote("BTC-USD"), ["/best_bid_ask"]),
    "get_order_book": (lambda b: b.get_order_book("BTC-USD"), ["/product_book"]),
    "get_candles": (lambda b: b.get_candles("BTC-USD", 60, limit=3, end=END), ["/candles"]),
    "list_balances": (lambda b: b.list_balances(), ["/accounts"]),
    "list_positions": (
        lambda b: b.list_positions(),
        ["/accounts", "/key_permissions", "/intx/positions"],
    ),
    "get_order": (lambda b: b.get_order("o-1"), ["/orders/historical/{id}"]),
    "find_order": (lambda b: b.find_order_by_client_id("c-9"), ["/orders/historical/batch"]),
    "list_orders": (lambda b: b.list_orders(since=END), ["/orders/historical/batch"]),
    "list_fills": (
        lambda b: b.list_fills(since=END),
        ["/orders/historical/fills", "/orders/historical/batch"],
    ),
    "preview_order": (
        lambda b: b.preview_order(SELL_REDUCE),
        ["/products/{id}", "/orders/preview", "/accounts"],
    ),
    "submit_order": (
        lambda b: b.submit_order(LIMIT),
        ["/products/{id}", "/orders", "/orders/historical/{id}"],
    ),
    "preview_edit": (
        lambda b: b.preview_edit("o-1", limit_price=Decimal("1")),
        ["/orders/historical/{id}", "/products/{id}", "/orders/edit_preview"],
    ),
    "edit_order": (
        lambda b: b.edit_order("o-1", base_size=Decimal("0.02"), preview_id="p-1"),
        ["/orders/historical/{id}", "/products/{id}", "/orders/edit"],
    ),
    "cancel_orders": (lambda b: b.cancel_orders(["o-1", "o-2"]), ["/orders/batch_cancel"]),
    "key_permissions": (lambda b: b.key_permissions(), ["/key_permissions"]),
    "account_details": (
        lambda b: b.account_details(),
        [
            "/key_permissions",
            "/transaction_summary",
            "/portfolios",
            "/intx/portfolio",
            "/intx/positions",
        ],
    ),
}


def make_broker(answers: dict[str, Any]) -> CoinbaseBroker:
    return CoinbaseBroker(
        FakeTransport(answers),  # type: ignore[arg-type]
        symbols=["BTC-USD", "ETH-USD", "BTC-PERP-INTX"],
        enable_derivatives=True,
    )


def test_valid_answers_work_for_every_call() -> None:
    for name, (call, _) in CALLS.items():
        try:
            call(make_broker(dict(VALID)))
        except BrokerError as exc:  # the samples' own rejections (a preview's errors, ...)
            raise AssertionError(f"{name}: {exc.message}") from None


@st.composite
def broker_cases(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(sorted(CALLS)))
    return name, answers_with(draw, CALLS[name][1])


def _with(endpoint: str, doc: Any) -> dict[str, Any]:
    return {**VALID, endpoint: doc}


@few(500)
@given(case=broker_cases())
@example(case=("get_order_book", _with("/product_book", {})))
@example(case=("get_order", _with("/orders/historical/{id}", {"orders": []})))
@example(case=("list_fills", _with("/orders/historical/fills", {"fills": [1]})))
@example(case=("submit_order", _with("/orders", {"success": True, "success_response": "x"})))
@example(case=("submit_order", _with("/orders", {"success": False, "error_response": "x"})))
@example(
    case=(
        "submit_order",
        _with("/orders", {"success": False, "error_response": {"message": "no\nmoney"}}),
    )
)
@example(case=("edit_order", _with("/orders/edit", {"success": False, "errors": {"a": 1}})))
@example(case=("account_details", _with("/transaction_summary", {"fee_tier": "x"})))
@example(case=("account_details", _with("/transaction_summary", {"total_fees": "abc"})))
@example(case=("account_details", _with("/portfolios", {"portfolios": "abc"})))
@example(case=("account_details", _with("/intx/portfolio", {"summary": []})))
@example(case=("list_positions", _with("/key_permissions", {"portfolio_type": []})))
@example(case=("list_positions", _with("/intx/positions", {"positions": {"a": 1}})))
@example(
    case=("list_balances", _with("/accounts", {"accounts": [], "has_next": True, "cursor": []}))
)
@example(case=("cancel_orders", _with("/orders/batch_cancel", {"results": {"o-1": 1}})))
def test_broker_calls_end_in_domain_objects_or_classified_errors(
    case: tuple[str, dict[str, Any]],
) -> None:
    name, answers = case
    call, _ = CALLS[name]
    broker = make_broker(answers)
    try:
        call(broker)
    except BrokerError as exc:
        assert isinstance(exc.kind, ErrorKind)
        assert_one_line(exc.message)
