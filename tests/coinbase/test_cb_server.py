"""The simulator as Coinbase: authentication, the rate limit and its headers, error shapes,
candle limits, and the loopback-only admin endpoints."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import requests
from cb_helpers import Sim

from trading_core.brokers.coinbase.keys import ApiKey, build_jwt, make_api_key
from trading_core.sim.server import FaultError, create_app, parse_spec

API = "/api/v3/brokerage"


class Client:
    def __init__(self, sim: Sim, key: tuple[str, str]) -> None:
        self.sim = sim
        self.key: ApiKey = make_api_key(*key, name_var="K", secret_var="S")
        self.session = requests.Session()
        self.session.trust_env = False
        self.host = sim.base_url.removeprefix("http://")

    def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = None, **params: Any
    ) -> requests.Response:
        uri = f"{method} {self.host}{API}{path}"
        auth = token if token is not None else build_jwt(self.key, uri)
        return self.session.request(
            method,
            f"{self.sim.base_url}{API}{path}",
            json=body if body is not None else {},
            params=params,
            headers={"Authorization": f"Bearer {auth}"} if auth else {},
            timeout=5,
        )


@pytest.fixture
def client(sim: Sim, ec_key: tuple[str, str]) -> Client:
    return Client(sim, ec_key)


def test_private_endpoints_need_a_valid_token_for_that_request(client: Client) -> None:
    assert client.call("GET", "/accounts").status_code == 200
    assert client.call("GET", "/time", token="").status_code == 200  # public
    missing = client.call("GET", "/accounts", token="")
    assert missing.status_code == 401 and missing.json()["error"] == "UNAUTHENTICATED"
    other_uri = build_jwt(client.key, f"GET {client.host}{API}/portfolios")
    refused = client.call("GET", "/accounts", token=other_uri)
    assert refused.status_code == 401 and "uri" in refused.json()["message"]


def test_rate_limit_past_30_per_second_with_headers(client: Client) -> None:
    statuses: list[int] = []
    limited: requests.Response | None = None
    start = time.monotonic()
    while time.monotonic() - start < 0.9 and len(statuses) < 40:
        response = client.call("GET", "/key_permissions")
        statuses.append(response.status_code)
        if response.status_code == 429:
            limited = response
    assert statuses[:30] == [200] * 30
    assert limited is not None, "no 429 within the second"
    assert limited.headers["x-ratelimit-limit"] == "30"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert float(limited.headers["x-ratelimit-reset"]) > time.time() - 1
    assert float(limited.headers["retry-after"]) > 0
    assert limited.json()["error"] == "RESOURCE_EXHAUSTED"


def test_order_error_shapes(client: Client, sim: Sim) -> None:
    market = {"market_market_ioc": {"base_size": "0.001"}}
    body = {"client_order_id": "d1", "product_id": "BTC-USD", "side": "BUY"}
    created = client.call("POST", "/orders", {**body, "order_configuration": market}).json()
    assert created["success"] is True
    order_id = created["success_response"]["order_id"]
    again = client.call("POST", "/orders", {**body, "order_configuration": market}).json()
    assert again["success"] is False
    assert again["error_response"]["error"] == "DUPLICATE_CLIENT_ORDER_ID"
    assert again["order_id"] == order_id
    poor = client.call(
        "POST",
        "/orders",
        {
            **body,
            "client_order_id": "d2",
            "order_configuration": {"market_market_ioc": {"base_size": "50"}},
        },
    ).json()
    assert poor["success"] is False
    assert poor["error_response"]["new_order_failure_reason"] == "INSUFFICIENT_FUND"
    assert poor["error_response"]["preview_failure_reason"] == "PREVIEW_INSUFFICIENT_FUND"
    bad = client.call(
        "POST", "/orders", {**body, "client_order_id": "d3", "order_configuration": {"x": {}}}
    )
    assert bad.status_code == 400 and bad.json()["error"] == "INVALID_ARGUMENT"
    preview = client.call(
        "POST",
        "/orders/preview",
        {**body, "order_configuration": {"market_market_ioc": {"base_size": "50"}}},
    ).json()
    assert preview["errs"] == ["PREVIEW_INSUFFICIENT_FUND"] and preview["preview_id"]
    assert client.call("GET", "/products/NOPE-USD").status_code == 404
    missing = client.call("GET", "/orders/historical/nope")
    assert missing.status_code == 404 and missing.json()["error"] == "NOT_FOUND"
    assert sim.state()["orders"] == 1


def test_candles_follow_coinbase_limits(client: Client) -> None:
    now = int(time.time())
    ok = client.call(
        "GET",
        "/products/BTC-USD/candles",
        start=str(now - 3600),
        end=str(now),
        granularity="ONE_MINUTE",
    )
    candles = ok.json()["candles"]
    assert ok.status_code == 200 and 58 <= len(candles) <= 61
    assert int(candles[0]["start"]) > int(candles[-1]["start"])  # newest first
    too_many = client.call(
        "GET",
        "/products/BTC-USD/candles",
        start=str(now - 400 * 60),
        end=str(now),
        granularity="ONE_MINUTE",
    )
    assert too_many.status_code == 400 and "350" in too_many.json()["message"]
    assert (
        client.call("GET", "/products/BTC-USD/candles", granularity="TEN_MINUTE").status_code == 400
    )


def test_admin_is_loopback_only(sim: Sim) -> None:
    app = create_app(sim.ctx)

    async def post(client_host: str) -> int:
        transport = httpx.ASGITransport(app=app, client=(client_host, 4242))
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http:
            response = await http.post("/sim/faults", json={"kind": "latency", "ms": 1})
            return response.status_code

    assert asyncio.run(post("10.1.2.3")) == 403
    assert asyncio.run(post("127.0.0.1")) == 200
    assert sim.state()["faults"][0]["kind"] == "latency"
    bad = requests.post(f"{sim.base_url}/sim/faults", json={"kind": "meteor"}, timeout=5)
    assert bad.status_code == 400 and "unknown fault kind" in bad.json()["message"]


def test_fault_specs() -> None:
    fault = parse_spec("error:status=500,count=3,path=/api/v3/brokerage/orders")
    assert (fault.kind, fault.count, fault.params["status"]) == ("error", 3, 500)
    assert parse_spec("latency:ms=200").count is None  # until cleared
    assert parse_spec("ws_drop:code=1000,every=30").next_at is not None
    for bad in ("error:status=404", "ws_drop:code=1001", "latency:speed=2", "timeout:when=soon"):
        with pytest.raises(FaultError):
            parse_spec(bad)


def test_new_fault_specs() -> None:
    assert parse_spec("auth:count=3").count == 3
    assert parse_spec("rate_limit:headers=0").params["headers"] == 0
    skew = parse_spec("clock_skew:seconds=-30")
    assert skew.count is None and skew.params["seconds"] == -30.0  # until cleared
    exact = parse_spec("timeout:path=/api/v3/brokerage/orders$,method=POST")
    assert exact.matches("POST", "/api/v3/brokerage/orders")
    assert not exact.matches("POST", "/api/v3/brokerage/orders/preview")
    for bad in ("rate_limit:headers=2", "clock_skew:seconds=nan", "auth:status=403"):
        with pytest.raises(FaultError):
            parse_spec(bad)


def test_bare_429_without_rate_limit_headers(client: Client, sim: Sim) -> None:
    sim.fault(kind="rate_limit", headers=0, count=1)
    bare = client.call("GET", "/accounts")
    assert bare.status_code == 429 and bare.json()["error"] == "RESOURCE_EXHAUSTED"
    assert not any(h.lower().startswith("x-ratelimit") for h in bare.headers)
    assert "retry-after" not in {h.lower() for h in bare.headers}
    sim.fault(kind="rate_limit", count=1)
    assert "retry-after" in {h.lower() for h in client.call("GET", "/accounts").headers}


def test_auth_fault_refuses_good_credentials_on_private_endpoints_only(
    client: Client, sim: Sim
) -> None:
    sim.fault(kind="auth", count=2)
    assert client.call("GET", "/time").status_code == 200  # public: passes, count untouched
    for _ in range(2):
        refused = client.call("GET", "/accounts")
        assert refused.status_code == 401 and refused.json()["error"] == "UNAUTHENTICATED"
    assert client.call("GET", "/accounts").status_code == 200  # used up
    assert sim.state()["faults_applied"]["auth"] == 2


def test_clock_skew_moves_server_time_and_judges_tokens_at_it(client: Client, sim: Sim) -> None:
    sim.fault(kind="clock_skew", seconds=-3)  # within the JWT leeway: accepted
    assert client.call("GET", "/accounts").status_code == 200
    sim.admin("DELETE", "/sim/faults")
    sim.fault(kind="clock_skew", seconds=-30)  # the venue 30 s behind: our nbf is its future
    served = float(client.call("GET", "/time").json()["epochSeconds"])
    assert abs(served - (time.time() - 30)) < 3
    refused = client.call("GET", "/accounts")
    assert refused.status_code == 401 and "not yet valid" in refused.json()["message"]
    sim.admin("DELETE", "/sim/faults")
    sim.fault(kind="clock_skew", seconds=600)  # the venue 10 minutes ahead: tokens expired
    assert "expired" in client.call("GET", "/accounts").json()["message"]
    sim.admin("DELETE", "/sim/faults")
    assert client.call("GET", "/accounts").status_code == 200
    served = float(client.call("GET", "/time").json()["epochSeconds"])
    assert abs(served - time.time()) < 3
