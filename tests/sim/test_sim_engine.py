"""MatchingEngine: order types, fees, holds, rejections, edits, positions, determinism."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trading_core.domain import (
    TRANSITIONS,
    Liquidity,
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    StopDirection,
    TimeInForce,
)
from trading_core.errors import OrderNotFound, OrderRejected, UnknownProduct
from trading_core.sim import FeeSchedule, MatchingEngine, SimulatedMarket

START = datetime(2025, 1, 1, tzinfo=UTC)
BUY, SELL = OrderSide.BUY, OrderSide.SELL
USD = Decimal("100000")

_engines: list[MatchingEngine] = []


def make(
    symbols: tuple[str, ...] = ("BTC-USD",),
    balances: dict[str, Decimal] | None = None,
    *,
    seed: int = 7,
    scenario: str = "calm",
    fees: FeeSchedule | None = None,
) -> MatchingEngine:
    engine = MatchingEngine(
        SimulatedMarket(list(symbols), scenario, seed, START), balances, fees=fees
    )
    _engines.append(engine)
    return engine


@pytest.fixture(autouse=True)
def every_status_change_is_legal() -> Iterator[None]:
    """After each test, every order any engine made went only through lifecycle-table moves."""
    _engines.clear()
    yield
    for engine in _engines:
        for order in engine.list_orders():
            assert_legal(order)


def assert_legal(order: Order) -> None:
    path = [*order.history, order.status]
    assert path[0] is OrderStatus.INITIALIZED
    for before, after in itertools.pairwise(path):
        assert any(TRANSITIONS.get((before, event)) is after for (status, event) in TRANSITIONS), (
            f"{order.order_id}: {before} -> {after}"
        )


def market(cid: str, side: OrderSide, size: str, symbol: str = "BTC-USD") -> OrderRequest:
    return OrderRequest(
        cid, symbol, side, OrderType.MARKET, base_size=Decimal(size), time_in_force=TimeInForce.IOC
    )


def limit(
    cid: str,
    side: OrderSide,
    size: str,
    price: Decimal,
    tif: TimeInForce = TimeInForce.GTC,
    symbol: str = "BTC-USD",
    **extra: object,
) -> OrderRequest:
    return OrderRequest(
        cid,
        symbol,
        side,
        OrderType.LIMIT,
        base_size=Decimal(size),
        limit_price=price,
        time_in_force=tif,
        **extra,  # type: ignore[arg-type]
    )


def force_mid(engine: MatchingEngine, price: float, symbol: str = "BTC-USD") -> None:
    """Put the true mid at ``price`` and take one 1-second step (the walk carries on from it)."""
    feed = engine.market.feed(symbol)
    feed.mid = price
    feed.moved()
    engine.advance_to(engine.time + timedelta(seconds=1))


def usd(engine: MatchingEngine) -> tuple[Decimal, Decimal]:
    balance = {b.currency: b for b in engine.list_balances()}["USD"]
    return balance.available, balance.hold


def reason(excinfo: pytest.ExceptionInfo[OrderRejected]) -> str:
    return excinfo.value.reason


# --- market orders ------------------------------------------------------------------------------


def test_market_buy_walks_the_book_so_slippage_grows_with_size() -> None:
    engine = make(balances={"USD": Decimal("100000000")})
    previews = [engine.preview_order(market(f"p{n}", BUY, n)) for n in ("0.1", "5", "50")]
    assert all(p.ok for p in previews)
    prices = [p.est_average_price for p in previews]
    slippage = [p.slippage for p in previews]
    assert prices[0] < prices[1] < prices[2]
    assert Decimal(0) < slippage[0] < slippage[1] < slippage[2] < Decimal("0.01")
    small = engine.submit_order(market("m1", BUY, "0.1"))
    big = engine.submit_order(market("m2", BUY, "50"))
    assert small.status is big.status is OrderStatus.FILLED
    assert small.avg_fill_price == prices[0] and big.avg_fill_price == prices[2]
    assert len(engine.list_fills(order_id=big.order_id)) > 5  # one fill per level taken
    assert big.filled_size == Decimal("50")


def test_market_fees_are_taker_and_resting_fills_are_maker() -> None:
    engine = make()
    bought = engine.submit_order(market("m1", BUY, "0.2"))
    fill = engine.list_fills(order_id=bought.order_id)[0]
    assert fill.liquidity is Liquidity.TAKER
    assert fill.fee == fill.price * fill.size * Decimal("0.012") == bought.fees
    q = engine.market.quote("BTC-USD")
    rest = engine.submit_order(limit("l1", SELL, "0.1", q.ask + Decimal("50")))
    force_mid(engine, float(q.ask) + 100)
    maker = engine.list_fills(order_id=rest.order_id)[0]
    assert maker.liquidity is Liquidity.MAKER and maker.price == q.ask + Decimal("50")
    assert maker.fee == maker.price * maker.size * Decimal("0.006")
    cheap = make(fees=FeeSchedule(maker=Decimal("0"), taker=Decimal("0.001")))
    order = cheap.submit_order(market("m1", BUY, "0.01"))
    assert order.fees == order.filled_value * Decimal("0.001")


def test_market_buy_by_quote_size_spends_that_notional_plus_fee() -> None:
    engine = make()
    order = engine.submit_order(
        OrderRequest(
            "q1",
            "BTC-USD",
            BUY,
            OrderType.MARKET,
            quote_size=Decimal("1000.00"),
            time_in_force=TimeInForce.IOC,
        )
    )
    assert order.status is OrderStatus.FILLED
    unit = order.avg_fill_price * Decimal("0.00000001")  # type: ignore[operator]
    assert Decimal("1000") - unit < order.filled_value <= Decimal("1000")
    assert usd(engine)[0] == USD - order.filled_value - order.fees


def test_market_sell_needs_the_coins_and_settles_proceeds_minus_fee() -> None:
    engine = make()
    with pytest.raises(OrderRejected) as info:
        engine.submit_order(market("s0", SELL, "0.1"))
    assert reason(info) == "INSUFFICIENT_FUND"
    engine.submit_order(market("b1", BUY, "0.3"))
    with pytest.raises(OrderRejected) as info:
        engine.submit_order(market("s1", SELL, "0.30000001"))
    assert reason(info) == "INSUFFICIENT_FUND"
    available = usd(engine)[0]
    sold = engine.submit_order(market("s2", SELL, "0.3"))
    assert sold.status is OrderStatus.FILLED
    assert usd(engine)[0] == available + sold.filled_value - sold.fees
    assert {b.currency: b.total for b in engine.list_balances()}["BTC"] == 0


# --- rejections ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (market("r1", BUY, "0.000000001"), "INVALID_SIZE_PRECISION"),
        (limit("r2", BUY, "0.1", Decimal("90000.005")), "INVALID_PRICE_PRECISION"),
        (market("r3", BUY, "0.5", "DOGE-USD"), "ORDER_SIZE_TOO_SMALL"),
        (market("r4", BUY, "0.05", "DOGE-USD"), "INVALID_SIZE_PRECISION"),
        (market("r5", BUY, "0.00001"), "ORDER_NOTIONAL_TOO_SMALL"),
        (limit("r6", BUY, "0.00002", Decimal("40000.00")), "ORDER_NOTIONAL_TOO_SMALL"),
        (market("r7", BUY, "2"), "INSUFFICIENT_FUND"),
        (market("r8", BUY, "5000"), "ORDER_SIZE_TOO_LARGE"),
        (limit("r9", BUY, "2", Decimal("60000.00")), "INSUFFICIENT_FUND"),
        (
            OrderRequest("r10", "BTC-USD", BUY, OrderType.MARKET, base_size=Decimal("1")),
            "INVALID_ORDER",
        ),
        (
            limit("r11", BUY, "0.1", Decimal("99000.00"), post_only=True),
            "INVALID_LIMIT_PRICE_POST_ONLY",
        ),
        (market("r12", BUY, "0.01", "BTC-PERP-INTX"), "PERPETUALS_NOT_SIMULATED"),
        (
            OrderRequest(
                "r15",
                "BTC-USD",
                SELL,
                OrderType.MARKET,
                quote_size=Decimal("100.00"),
                time_in_force=TimeInForce.IOC,
            ),
            "INVALID_ORDER",
        ),
        (
            limit(
                "r16",
                BUY,
                "0.1",
                Decimal("90000.00"),
                TimeInForce.GTD,
                end_time=START.replace(tzinfo=None),
            ),
            "INVALID_ORDER",
        ),
        (limit("r17", BUY, "0.1", Decimal("90000.00"), reduce_only=True), "INVALID_ORDER"),
        (
            limit("r13", BUY, "0.1", Decimal("90000.00"), TimeInForce.GTD, end_time=START),
            "INVALID_END_TIME",
        ),
        (
            OrderRequest(
                "r14",
                "BTC-USD",
                SELL,
                OrderType.STOP_LIMIT,
                base_size=Decimal("0.1"),
                limit_price=Decimal("95500.00"),
                stop_price=Decimal("96000.00"),
                stop_direction=StopDirection.DOWN,
            ),
            "INVALID_STOP_PRICE",
        ),
    ],
)
def test_rejections_carry_coinbase_style_reasons_and_leave_nothing(
    request_: OrderRequest, expected: str
) -> None:
    engine = make(("BTC-USD", "DOGE-USD", "BTC-PERP-INTX"))
    before = engine.list_balances()
    preview = engine.preview_order(request_)
    assert expected in preview.errors
    with pytest.raises(OrderRejected) as info:
        engine.submit_order(request_)
    assert reason(info) == expected
    assert engine.list_orders() == [] and engine.list_balances() == before
    assert engine.find_order_by_client_id(request_.client_order_id) is None


def test_unknown_and_malformed_symbols() -> None:
    engine = make()
    with pytest.raises(UnknownProduct):
        engine.submit_order(market("u1", BUY, "1", "ETH-USD"))
    with pytest.raises(UnknownProduct):
        engine.preview_order(market("u2", BUY, "1", "btc"))
    with pytest.raises(OrderNotFound):
        engine.get_order("nope")


def test_preview_lists_every_problem_and_changes_nothing() -> None:
    engine = make()
    state = engine.to_state()
    preview = engine.preview_order(limit("p1", BUY, "0.00001", Decimal("90000.00"), post_only=True))
    assert preview.errors == ("ORDER_NOTIONAL_TOO_SMALL",)
    big = engine.preview_order(market("p2", BUY, "3"))
    assert big.errors == ("INSUFFICIENT_FUND",) and not big.ok
    assert big.est_fee == big.quote_size * Decimal("0.012")
    assert engine.to_state() == state


# --- limit orders -------------------------------------------------------------------------------


def test_resting_buy_holds_quote_with_fee_and_cancel_releases_it() -> None:
    engine = make()
    price = Decimal("90000.00")
    order = engine.submit_order(limit("l1", BUY, "0.5", price))
    assert order.status is OrderStatus.OPEN
    held = Decimal("0.5") * price * Decimal("1.012")
    assert usd(engine) == (USD - held, held)
    post = engine.submit_order(limit("l2", BUY, "0.1", price, post_only=True))
    assert usd(engine)[1] == held + Decimal("0.1") * price * Decimal("1.006")
    assert engine.cancel_orders([order.order_id, post.order_id, "unknown"]) == {
        order.order_id: True,
        post.order_id: True,
        "unknown": False,
    }
    assert engine.cancel_orders([order.order_id]) == {order.order_id: False}
    assert usd(engine) == (USD, 0)
    assert engine.get_order(order.order_id).status is OrderStatus.CANCELLED
    assert engine.list_orders(open_only=True) == []


def test_resting_sell_holds_base() -> None:
    engine = make(balances={"USD": USD, "BTC": Decimal("1")})
    q = engine.market.quote("BTC-USD")
    engine.submit_order(limit("l1", SELL, "0.4", q.ask + Decimal("500")))
    btc = {b.currency: b for b in engine.list_balances()}["BTC"]
    assert (btc.available, btc.hold) == (Decimal("0.6"), Decimal("0.4"))
    with pytest.raises(OrderRejected, match=r"needs 0\.7 BTC") as info:
        engine.submit_order(limit("l2", SELL, "0.7", q.ask + Decimal("500")))
    assert reason(info) == "INSUFFICIENT_FUND"


def test_resting_limit_fills_at_its_price_as_maker_only_when_crossed() -> None:
    engine = make()
    q = engine.market.quote("BTC-USD")
    price = q.bid - Decimal("100")
    order = engine.submit_order(limit("l1", BUY, "0.25", price))
    force_mid(engine, float(price) + 30)  # ask still above the limit
    assert engine.get_order(order.order_id).status is OrderStatus.OPEN
    force_mid(engine, float(price) - 20)  # ask now at or below the limit
    done = engine.get_order(order.order_id)
    assert done.status is OrderStatus.FILLED and done.avg_fill_price == price
    fill = engine.list_fills(order_id=order.order_id)[0]
    assert fill.liquidity is Liquidity.MAKER and fill.time == engine.time
    cost = price * Decimal("0.25") * Decimal("1.006")
    assert usd(engine) == (USD - cost, 0)  # the unused part of the taker-rate hold came back


def test_marketable_limit_takes_up_to_its_price_then_rests() -> None:
    engine = make(balances={"USD": Decimal("10000000")})
    q = engine.market.quote("BTC-USD")
    price = q.ask + Decimal("20")  # covers the top three ask levels
    order = engine.submit_order(limit("l1", BUY, "10", price))
    assert order.status is OrderStatus.PARTIALLY_FILLED
    fills = engine.list_fills(order_id=order.order_id)
    assert fills and all(f.price <= price and f.liquidity is Liquidity.TAKER for f in fills)
    assert order.filled_size < Decimal("10")
    assert order.history == [OrderStatus.INITIALIZED, OrderStatus.SUBMITTED] + [
        OrderStatus.PARTIALLY_FILLED
    ] * (len(fills) - 1)
    remaining = Decimal("10") - order.filled_size
    assert usd(engine)[1] == remaining * price * Decimal("1.012")
    engine.cancel_orders([order.order_id])
    assert usd(engine)[1] == 0


def test_ioc_and_fok_limits() -> None:
    engine = make(balances={"USD": Decimal("10000000")})
    price = engine.market.quote("BTC-USD").ask + Decimal("20")
    ioc = engine.submit_order(limit("i1", BUY, "10", price, TimeInForce.IOC))
    assert ioc.status is OrderStatus.CANCELLED and Decimal(0) < ioc.filled_size < Decimal("10")
    fok = engine.submit_order(limit("f1", BUY, "10", price, TimeInForce.FOK))
    assert fok.status is OrderStatus.CANCELLED and fok.filled_size == 0
    assert fok.reject_reason == "FOK_NOT_FILLABLE"
    small = engine.submit_order(limit("f2", BUY, "0.5", price, TimeInForce.FOK))
    assert small.status is OrderStatus.FILLED and small.filled_size == Decimal("0.5")
    assert usd(engine)[1] == 0
    nothing = engine.submit_order(limit("i2", BUY, "1", price - Decimal("1000"), TimeInForce.IOC))
    assert nothing.status is OrderStatus.CANCELLED and nothing.filled_size == 0


def test_gtd_expires_at_end_time_and_releases_its_hold() -> None:
    engine = make()
    end = START + timedelta(seconds=90)
    order = engine.submit_order(
        limit("g1", BUY, "0.1", Decimal("80000.00"), TimeInForce.GTD, end_time=end)
    )
    engine.advance_to(START + timedelta(seconds=60))
    assert engine.get_order(order.order_id).status is OrderStatus.OPEN
    engine.advance_to(START + timedelta(minutes=5))
    expired = engine.get_order(order.order_id)
    assert expired.status is OrderStatus.EXPIRED and expired.updated_at == end
    assert usd(engine) == (USD, 0)


def test_stop_limit_stays_open_until_the_last_price_crosses_then_fills() -> None:
    engine = make(balances={"USD": USD, "BTC": Decimal("1")})
    stop = Decimal("94000.00")
    order = engine.submit_order(
        OrderRequest(
            "s1",
            "BTC-USD",
            SELL,
            OrderType.STOP_LIMIT,
            base_size=Decimal("0.5"),
            limit_price=Decimal("93500.00"),
            stop_price=stop,
            stop_direction=StopDirection.DOWN,
        )
    )
    assert order.status is OrderStatus.OPEN
    force_mid(engine, 94100.0)
    assert engine.get_order(order.order_id).status is OrderStatus.OPEN
    force_mid(engine, 93950.0)
    done = engine.get_order(order.order_id)
    assert done.status is OrderStatus.FILLED
    assert OrderStatus.TRIGGERED in done.history
    fills = engine.list_fills(order_id=order.order_id)
    assert all(f.liquidity is Liquidity.TAKER and f.price >= Decimal("93500") for f in fills)


def test_triggered_stop_that_cannot_take_rests_as_a_limit() -> None:
    engine = make()
    order = engine.submit_order(
        OrderRequest(
            "s2",
            "BTC-USD",
            BUY,
            OrderType.STOP_LIMIT,
            base_size=Decimal("0.1"),
            limit_price=Decimal("96000.00"),
            stop_price=Decimal("96000.00"),
            stop_direction=StopDirection.UP,
        )
    )
    force_mid(engine, 96500.0)  # triggers, but the ask is above the limit
    assert engine.get_order(order.order_id).status is OrderStatus.TRIGGERED
    force_mid(engine, 95900.0)
    done = engine.get_order(order.order_id)
    assert done.status is OrderStatus.FILLED and done.avg_fill_price == Decimal("96000")
    assert done.history[-2:] == [OrderStatus.OPEN, OrderStatus.TRIGGERED]


def test_client_order_ids_are_idempotent() -> None:
    engine = make()
    first = engine.submit_order(market("same", BUY, "0.1"))
    after = engine.list_balances()
    again = engine.submit_order(market("same", BUY, "0.1"))
    assert again.order_id == first.order_id and again == first
    assert engine.list_balances() == after and len(engine.list_orders()) == 1
    assert engine.find_order_by_client_id("same") == first
    again.status = OrderStatus.FAILED  # a copy: the engine's record is untouched
    assert engine.get_order(first.order_id).status is OrderStatus.FILLED


def test_edit_changes_price_and_size_with_holds_and_preview_ids() -> None:
    engine = make()
    order = engine.submit_order(limit("e1", BUY, "0.1", Decimal("90000.00")))
    preview = engine.preview_edit(
        order.order_id, limit_price=Decimal("91000.00"), base_size=Decimal("0.2")
    )
    assert preview.ok and preview.base_size == Decimal("0.2")
    with pytest.raises(OrderRejected) as info:
        engine.edit_order(order.order_id, limit_price=Decimal("91000.00"), preview_id="bogus")
    assert reason(info) == "PREVIEW_ID_MISMATCH"
    edited = engine.edit_order(
        order.order_id,
        limit_price=Decimal("91000.00"),
        base_size=Decimal("0.2"),
        preview_id=preview.preview_id,
    )
    assert (edited.limit_price, edited.base_size) == (Decimal("91000.00"), Decimal("0.2"))
    assert edited.status is OrderStatus.OPEN and edited.history[-1] is OrderStatus.OPEN
    assert usd(engine)[1] == Decimal("0.2") * Decimal("91000.00") * Decimal("1.012")
    smaller = engine.edit_order(order.order_id, base_size=Decimal("0.05"))
    assert usd(engine) == (
        USD - smaller.base_size * smaller.limit_price * Decimal("1.012"),  # type: ignore[operator]
        Decimal("0.05") * Decimal("91000.00") * Decimal("1.012"),
    )
    with pytest.raises(OrderRejected) as info:
        engine.edit_order(order.order_id, base_size=Decimal("5"))
    assert reason(info) == "INSUFFICIENT_FUND"
    with pytest.raises(OrderRejected) as info:
        engine.edit_order(order.order_id, limit_price=Decimal("91000.001"))
    assert reason(info) == "INVALID_PRICE_PRECISION"
    marketable = engine.edit_order(order.order_id, limit_price=Decimal("99000.00"))
    assert marketable.status is OrderStatus.FILLED  # the new price took liquidity at once
    with pytest.raises(OrderRejected) as info:
        engine.edit_order(order.order_id, limit_price=Decimal("90000.00"))
    assert reason(info) == "ORDER_NOT_EDITABLE"
    assert (
        "ORDER_NOT_EDITABLE" in engine.preview_edit(order.order_id, base_size=Decimal("1")).errors
    )
    with pytest.raises(OrderNotFound):
        engine.edit_order("missing", base_size=Decimal("1"))


def test_edit_below_the_filled_size_is_refused() -> None:
    engine = make(balances={"USD": Decimal("10000000")})
    price = engine.market.quote("BTC-USD").ask + Decimal("20")
    order = engine.submit_order(limit("e2", BUY, "10", price))
    assert order.status is OrderStatus.PARTIALLY_FILLED
    with pytest.raises(OrderRejected) as info:
        engine.edit_order(order.order_id, base_size=order.filled_size)
    assert reason(info) == "CANNOT_EDIT_TO_BELOW_FILLED_SIZE"
    lowered = engine.edit_order(order.order_id, limit_price=price - Decimal("1000"))
    assert lowered.status is OrderStatus.PARTIALLY_FILLED


# --- positions ----------------------------------------------------------------------------------


def test_positions_follow_fills_and_realize_pnl() -> None:
    engine = make()
    bought = engine.submit_order(market("b1", BUY, "0.4"))
    position = engine.list_positions()[0]
    assert (position.symbol, position.quantity) == ("BTC-USD", Decimal("0.4"))
    assert position.avg_entry_price == bought.avg_fill_price
    force_mid(engine, 97000.0)
    sold = engine.submit_order(market("s1", SELL, "0.4"))
    assert engine.list_positions() == []
    flat = engine.position("BTC-USD")
    assert flat.realized_pnl == (sold.avg_fill_price - bought.avg_fill_price) * Decimal("0.4")  # type: ignore[operator]
    assert flat.realized_pnl > 0
    assert flat.fees == bought.fees + sold.fees
    expected = USD - bought.filled_value - bought.fees + sold.filled_value - sold.fees
    assert usd(engine) == (expected, 0)


def test_starting_coins_open_a_position_at_the_mid() -> None:
    engine = make(balances={"USD": USD, "BTC": Decimal("0.5")})
    position = engine.list_positions()[0]
    assert position.quantity == Decimal("0.5")
    assert position.avg_entry_price == engine.market.quote("BTC-USD").mid


# --- determinism --------------------------------------------------------------------------------


def scripted_session(seed: int) -> tuple[list, list, list]:
    engine = make(("BTC-USD", "ETH-USD"), seed=seed)
    ids = []
    for n in range(30):
        engine.advance_to(START + timedelta(seconds=5 * (n + 1)))
        q = engine.market.quote("ETH-USD")
        ids.append(engine.submit_order(market(f"m{n}", BUY, "0.01")).order_id)
        ids.append(
            engine.submit_order(limit(f"l{n}", BUY, "0.1", q.bid, symbol="ETH-USD")).order_id
        )
    engine.advance_to(START + timedelta(minutes=30))
    fills = [(f.fill_id, f.price, f.size, f.time) for f in engine.list_fills()]
    return ids, fills, engine.list_balances()


def test_same_seed_same_ids_and_fills_different_seed_differs() -> None:
    a, b, c = scripted_session(1), scripted_session(1), scripted_session(2)
    assert a == b
    assert a[0] != c[0] and a[1] != c[1]
    assert len(set(a[0])) == len(a[0])


def test_the_legality_check_itself_catches_an_impossible_path() -> None:
    order = make().submit_order(market("x1", BUY, "0.01"))
    order.history = [OrderStatus.INITIALIZED]  # INITIALIZED -> FILLED skips SUBMITTED
    with pytest.raises(AssertionError):
        assert_legal(order)


def test_crash_costs_a_quarter_invested_portfolio_more_than_two_percent() -> None:
    engine = make(("BTC-USD", "ETH-USD"), scenario="crash")
    for symbol in ("BTC-USD", "ETH-USD"):
        price = engine.market.quote(symbol).ask
        size = (Decimal("12500") / price).quantize(Decimal("0.00000001"))
        engine.submit_order(market(f"b-{symbol}", BUY, str(size), symbol))

    def equity() -> Decimal:
        cash = usd(engine)[0]
        return cash + sum(
            p.quantity * engine.market.quote(p.symbol).bid for p in engine.list_positions()
        )

    start = equity()
    engine.advance_to(START + timedelta(hours=1, minutes=30))  # past the gap, into the slide
    assert equity() / start - 1 < Decimal("-0.02")
