"""The one redaction helper: what it hides, what it leaves alone."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from trading_core.domain import OrderSide
from trading_core.telemetry.redaction import (
    REDACTED,
    clear_registered_secrets,
    redact,
    redact_jsonable,
    redact_mapping,
    register_secret,
)

PEM = (
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIHq6K3JnU0wTq8hD7bqS0lJ6bTq1p9o8rD4jWcXyZ5xXoAoGCCqGSM49\n"
    "AwEHoUQDQgAEx8mZ3sQ1N5P1yHq3h0Yc8m8D2z0l5cT8e7dQ0kR0H1nZk2V6S5b\n"
    "-----END EC PRIVATE KEY-----"
)
KEY_NAME = (
    "organizations/8d9e0f1a-2b3c-4d5e-6f70-8192a3b4c5d6"
    "/apiKeys/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
)
JWT = (
    "eyJhbGciOiJFUzI1NiIsImtpZCI6Im9yZ2FuaXphdGlvbnMvIiwidHlwIjoiSldUIn0"
    ".eyJzdWIiOiJvcmdhbml6YXRpb25zLyIsImlzcyI6ImNkcCIsIm5iZiI6MTcwMH0"
    ".MEUCIQDx3k2lq9c8Hn6m0vY1r2V3Zp8b4A7s9d0f1g2h3j4k5l"
)


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    clear_registered_secrets()
    yield
    clear_registered_secrets()


def test_plain_text_is_unchanged() -> None:
    for text in (
        "",
        "order BTC-USD BUY 0.01 filled at 95000.12 fee=11.4 client_id=gpt-1a2b",
        "PnL day +12.50 equity=10012.50 realized=3.1",
        "GET https://api.coinbase.com/api/v3/brokerage/orders?product_id=BTC-USD&limit=5",
        "mail ops@example.com about cycle 12",
        "key rotation scheduled",
        "rate limiter tokens=5 max_tokens=10 secrets: 2",
    ):
        assert redact(text) == text


def test_pem_private_key_is_hidden_whole() -> None:
    out = redact(f"loaded key {PEM} ok")
    assert out == f"loaded key {REDACTED} ok"
    escaped = json.dumps({"private_key_pem": PEM})  # newlines as \n inside JSON text
    assert "MHcCAQEE" not in redact(escaped)
    truncated = PEM[:80]  # END marker cut off: hide to the end
    assert redact(f"x {truncated}") == f"x {REDACTED}"


def test_api_key_names_and_tokens() -> None:
    assert redact(f"using {KEY_NAME} now") == f"using {REDACTED} now"
    assert redact(f"jwt={JWT}") == f"jwt={REDACTED}"
    assert redact(f"sent {JWT} upstream") == f"sent {REDACTED} upstream"
    assert redact("Authorization: Bearer abc.def-ghi_123") == f"Authorization: Bearer {REDACTED}"
    assert redact("Authorization: Basic dXNlcjpwYXNzd29yZA==").endswith(f"Basic {REDACTED}")


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("api_secret=s3cr3t-v4lue next", "s3cr3t-v4lue"),
        ("api_key: kk-12345", "kk-12345"),
        ("token=abc123def", "abc123def"),
        ("password='hunter 2'", "hunter 2"),
        ('{"api_secret": "zzz-top"}', "zzz-top"),
        ("{'passphrase': 'open sesame'}", "open sesame"),
        ("COINBASE_API_SECRET=topsecret", "topsecret"),
        ("COINBASE_API_KEY_NAME=someone", "someone"),
        ("ACCESS_TOKEN=t0k3n", "t0k3n"),
    ],
)
def test_secret_key_values(text: str, hidden: str) -> None:
    out = redact(text)
    assert hidden not in out
    assert REDACTED in out


def test_secret_key_values_keep_key_and_quotes() -> None:
    assert redact("api_secret=abc other=1") == f"api_secret={REDACTED} other=1"
    assert redact('{"token": "abc", "n": 1}') == f'{{"token": "{REDACTED}", "n": 1}}'


def test_url_userinfo_query_and_webhooks() -> None:
    assert redact("https://bob:pa55@example.com/x") == f"https://{REDACTED}@example.com/x"
    url = "https://x.example/cb?symbol=BTC&token=abc&api_key=zz&X-Amz-Signature=ff00&sig=1a"
    out = redact(url)
    for leaked in ("abc", "=zz", "ff00", "sig=1a"):
        assert leaked not in out
    assert "symbol=BTC" in out
    slack = "post to https://hooks.slack.com/services/T0001/B0002/AbCdEfGhIjKlMnOp done"
    assert redact(slack) == f"post to https://hooks.slack.com/services/{REDACTED} done"
    discord = "https://discord.com/api/webhooks/123456789/abcdefghijklmnop"
    assert redact(discord) == f"https://discord.com/api/webhooks/{REDACTED}"


def test_registered_secret_is_masked_everywhere() -> None:
    secret = "Zq8-very-private-value"
    assert redact(f"value {secret}") == f"value {secret}"  # unknown: left alone
    assert register_secret(secret) is True
    assert register_secret(secret) is False  # already known
    assert redact(f"value {secret}!") == f"value {REDACTED}!"
    assert redact(f"pre{secret}post") == f"pre{REDACTED}post"
    assert secret not in redact(json.dumps({"x": f"a {secret}"}))
    url = "https://hooks.example.net/incoming/Zq8very"
    register_secret(url)
    assert redact(f"webhook {url}") == f"webhook {REDACTED}"


def test_registered_multiline_secret_and_its_lines() -> None:
    register_secret(PEM)
    body_line = PEM.splitlines()[1]
    assert redact(f"oops {body_line}") == f"oops {REDACTED}"
    assert body_line not in redact(json.dumps(PEM))


def test_short_or_empty_values_are_not_registered() -> None:
    assert register_secret("") is False
    assert register_secret(None) is False
    assert register_secret("abc") is False
    assert redact("abc abc") == "abc abc"


def test_redact_is_idempotent() -> None:
    text = f"api_secret=abc {KEY_NAME} https://u:p@h/x?token=1 Bearer zzzzzzzz {JWT}"
    once = redact(text)
    assert redact(once) == once


def test_redact_mapping_nested() -> None:
    register_secret("registered-secret-42")
    payload = {
        "api_secret": "plain",
        "nested": {
            "webhook_url": "https://example.com/x",
            "list": ["fine", "token=abc", ("tuple", "registered-secret-42")],
            "auth_token": None,
        },
        "price": Decimal("1.5"),
        "n": 3,
    }
    out = redact_mapping(payload)
    assert out == {
        "api_secret": REDACTED,
        "nested": {
            "webhook_url": REDACTED,
            "list": ["fine", f"token={REDACTED}", ("tuple", REDACTED)],
            "auth_token": None,
        },
        "price": Decimal("1.5"),
        "n": 3,
    }
    assert payload["api_secret"] == "plain"  # a copy: the input is not modified


def test_redact_jsonable_converts_and_redacts() -> None:
    at = datetime(2026, 11, 23, 12, tzinfo=UTC)
    out = redact_jsonable(
        {"side": OrderSide.BUY, "px": Decimal("95000.10"), "at": at, "password": 1234, 5: (1, 2)}
    )
    assert out == {
        "side": "BUY",
        "px": "95000.10",
        "at": "2026-11-23T12:00:00.000Z",
        "password": REDACTED,
        "5": [1, 2],
    }
    json.dumps(out)


def test_thread_safe_registration_while_redacting() -> None:
    secrets = [f"thread-secret-{i:04d}" for i in range(60)]
    errors: list[BaseException] = []

    def register() -> None:
        for s in secrets:
            register_secret(s)

    def use() -> None:
        try:
            for _ in range(20):
                for s in secrets[:30]:
                    redact(f"x {s} y")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=register)] + [threading.Thread(target=use) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for s in secrets:
        assert redact(f"x {s} y") == f"x {REDACTED} y"
