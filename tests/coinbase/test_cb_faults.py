"""Injected REST faults, end to end: a lost response (timeout) retried with the same client id,
429s, 5xx, malformed bodies, refused credentials; each classified once and retried only when
retrying can help."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

import pytest
from cb_helpers import Sim

from trading_core.brokers.coinbase.broker import CoinbaseBroker
from trading_core.brokers.coinbase.ratelimit import TokenBucket
from trading_core.domain import OrderRequest, OrderSide, OrderStatus, OrderType, TimeInForce
from trading_core.errors import BrokerError, ErrorKind

ORDERS = "/api/v3/brokerage/orders"


def market_buy(cid: str) -> OrderRequest:
    return OrderRequest(
        cid,
        "BTC-USD",
        OrderSide.BUY,
        OrderType.MARKET,
        base_size=Decimal("0.001"),
        time_in_force=TimeInForce.IOC,
    )


def test_a_lost_submit_response_is_retried_into_exactly_one_order(
    sim: Sim, make_broker: Callable[..., CoinbaseBroker]
) -> None:
    broker = make_broker(COINBASE_TIMEOUT_SECONDS="0.5")
    broker.get_product("BTC-USD")
    # the venue places the order, then holds the answer past the client's timeout
    sim.fault(kind="timeout", seconds=1.5, path=ORDERS, method="POST", count=1)
    order = broker.submit_order(market_buy("lost-1"))
    assert order.status is OrderStatus.FILLED and order.client_order_id == "lost-1"
    state = sim.state()
    assert state["orders"] == 1 and state["faults_applied"] == {"timeout": 1}
    requests = broker.stats().requests
    assert requests[("/orders", "timeout")] == 1 and requests[("/orders", "200")] == 1
    assert len(broker.list_fills()) == 1


def test_a_malformed_submit_answer_is_retried_into_exactly_one_order(
    sim: Sim, broker: CoinbaseBroker
) -> None:
    sim.fault(kind="malformed", mode="truncated", path=ORDERS, method="POST", count=1)
    order = broker.submit_order(market_buy("mangled-1"))
    assert order.status is OrderStatus.FILLED
    assert sim.state()["orders"] == 1
    assert broker.stats().requests[("/orders", "malformed")] == 1


def test_5xx_is_retried_and_classified_retryable_when_it_persists(
    sim: Sim, broker: CoinbaseBroker
) -> None:
    sim.fault(kind="error", status=503, count=2)
    assert broker.list_balances()
    assert broker.stats().requests[("/accounts", "503")] == 2
    sim.fault(kind="error", status=500, count=10, path="/api/v3/brokerage/product_book")
    with pytest.raises(BrokerError) as info:
        broker.get_order_book("BTC-USD")
    assert info.value.kind is ErrorKind.RETRYABLE and "HTTP 500" in info.value.message
    assert broker.stats().requests[("/product_book", "500")] == 4  # COINBASE_MAX_ATTEMPTS


def test_malformed_json_is_retried_then_classified(sim: Sim, broker: CoinbaseBroker) -> None:
    sim.fault(kind="malformed", mode="garbage", count=1)
    assert broker.get_order_book("ETH-USD", 3).symbol == "ETH-USD"
    sim.fault(kind="malformed", mode="empty", count=10)
    with pytest.raises(BrokerError) as info:
        broker.get_order_book("ETH-USD", 3)
    assert info.value.kind is ErrorKind.RETRYABLE and "malformed" in info.value.message


def test_429_waits_what_the_venue_says_then_succeeds(sim: Sim, broker: CoinbaseBroker) -> None:
    sim.fault(kind="rate_limit", count=2, retry_after=0.05)
    assert broker.get_order_book("BTC-USD", 1).bids
    requests = broker.stats().requests
    assert requests[("/product_book", "429")] == 2 and requests[("/product_book", "200")] == 1
    assert broker.stats().rate_limit_remaining is not None


def test_the_venue_limit_is_honoured_by_retries(
    make_sim: Callable[..., Sim], make_broker: Callable[..., CoinbaseBroker]
) -> None:
    strict = make_sim(rate_limit=3)
    broker = make_broker(target=strict, COINBASE_RATE_LIMIT_PER_SECOND="100")
    books = [broker.get_order_book("BTC-USD", 1) for _ in range(6)]
    assert len(books) == 6  # every call succeeded in the end
    statuses = strict.state()["requests"]
    assert statuses["429"] >= 1 and statuses["200"] == 6


def test_refused_credentials_are_auth_errors_without_retries(
    sim: Sim, make_broker: Callable[..., CoinbaseBroker]
) -> None:
    from trading_core.brokers.coinbase.keys import generate_key

    stranger = generate_key("ec", "organizations/other/apiKeys/stranger")
    broker = make_broker(key=stranger)
    with pytest.raises(BrokerError) as info:
        broker.list_balances()
    assert info.value.kind is ErrorKind.AUTH
    assert "refused the credentials" in info.value.message
    assert "stranger" not in info.value.message
    assert broker.stats().requests == {("/accounts", "401"): 1}

    assert "clock" not in info.value.message  # the clocks agree: the key is the problem


def test_refused_credentials_under_clock_skew_name_the_clock(
    sim: Sim, broker: CoinbaseBroker
) -> None:
    sim.fault(kind="clock_skew", seconds=-30)  # the venue 30 s behind us: tokens not yet valid
    with pytest.raises(BrokerError) as info:
        broker.list_balances()
    assert info.value.kind is ErrorKind.AUTH
    assert re.search(r"the local clock is (29|30|31)s ahead of the exchange's", info.value.message)
    sim.admin("DELETE", "/sim/faults")
    assert broker.list_balances()  # clocks agree again: signed calls work


def test_token_bucket_paces_and_pauses() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(10, 2, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(4):
        bucket.acquire()
    assert now[0] == pytest.approx(0.2)  # two at once, then 0.1 s apart
    bucket.pause(1.0)
    bucket.acquire()
    assert now[0] == pytest.approx(1.3)  # waited out the pause, then a token's worth
