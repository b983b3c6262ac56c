"""Credentials: loading, validation (one line naming the variable, never the value), JWT
signing (ES256 through the SDK, EdDSA ours) and the simulator's verification of both."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt as pyjwt
import pytest
from pydantic import SecretStr

from trading_core.brokers.coinbase.keys import build_jwt, load_api_key, make_api_key
from trading_core.brokers.coinbase.transport import parse_api_base
from trading_core.config.settings import CoinbaseSettings
from trading_core.errors import ConfigError
from trading_core.sim.server.auth import AuthError, KeyRing
from trading_core.telemetry.redaction import redact


def settings(**fields: object) -> CoinbaseSettings:
    return CoinbaseSettings(**fields)  # type: ignore[arg-type]


def test_missing_credentials_name_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_api_key(settings(), profile="canary")
    assert info.value.message.startswith("COINBASE_API_KEY: not set")
    with pytest.raises(ConfigError, match="COINBASE_API_SECRET: not set"):
        load_api_key(settings(api_key=SecretStr("organizations/o/apiKeys/k")))


def test_malformed_secret_names_the_variable_never_the_value() -> None:
    secret = "-----BEGIN EC PRIVATE KEY-----\nnot-really-a-key-but-secret-looking\n-----END EC"
    with pytest.raises(ConfigError) as info:
        load_api_key(settings(api_key=SecretStr("k1"), api_secret=SecretStr(secret)))
    message = info.value.message
    assert message.startswith("COINBASE_API_SECRET: malformed")
    assert "not-really-a-key" not in message and "\n" not in message
    assert "not-really-a-key" not in redact(f"logged {secret}")  # registered for redaction


def test_key_name_with_spaces_is_malformed(ec_key: tuple[str, str]) -> None:
    with pytest.raises(ConfigError, match="COINBASE_API_KEY: malformed"):
        make_api_key("a b", ec_key[1], name_var="COINBASE_API_KEY", secret_var="S")


def test_key_file_and_escaped_newlines(tmp_path: Path, ec_key: tuple[str, str]) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps({"name": ec_key[0], "privateKey": ec_key[1]}))
    path.chmod(0o600)
    key = load_api_key(settings(key_file=path))
    assert key.name == ec_key[0] and key.algorithm == "ES256"
    escaped = ec_key[1].replace("\n", "\\n")  # as a .env file holds it
    key = load_api_key(settings(api_key=SecretStr(ec_key[0]), api_secret=SecretStr(escaped)))
    assert key.secret == ec_key[1].strip()
    with pytest.raises(ConfigError, match=r"COINBASE_KEY_FILE: .* is not JSON"):
        (tmp_path / "bad.json").write_text("{")
        (tmp_path / "bad.json").chmod(0o600)
        load_api_key(settings(key_file=tmp_path / "bad.json"))
    with pytest.raises(ConfigError, match="COINBASE_KEY_FILE: cannot read"):
        load_api_key(settings(key_file=tmp_path / "missing.json"))


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o666])
def test_a_key_file_open_to_group_or_others_is_refused(
    tmp_path: Path, ec_key: tuple[str, str], mode: int
) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps({"name": ec_key[0], "privateKey": ec_key[1]}))
    path.chmod(mode)
    with pytest.raises(ConfigError) as caught:
        load_api_key(settings(key_file=path))
    message = str(caught.value)
    assert message.startswith(f"COINBASE_KEY_FILE: {path} is {mode:04o}, open to group")
    assert "chmod 600" in message and ec_key[1] not in message and "\n" not in message
    path.chmod(0o400)  # owner read-only is fine
    assert load_api_key(settings(key_file=path)).name == ec_key[0]


def test_both_algorithms_sign_what_the_simulator_verifies(
    ec_key: tuple[str, str], ed_key: tuple[str, str]
) -> None:
    ring = KeyRing()
    for name, secret in (ec_key, ed_key):
        ring.add_secret(name, secret)
        key = make_api_key(name, secret, name_var="K", secret_var="S")
        uri = "GET 127.0.0.1:1/api/v3/brokerage/accounts"
        token = build_jwt(key, uri)
        header = pyjwt.get_unverified_header(token)
        assert header["alg"] == key.algorithm and header["kid"] == name
        assert ring.verify(token, uri=uri).key_name == name
        with pytest.raises(AuthError, match="uri"):
            ring.verify(token, uri="POST 127.0.0.1:1/api/v3/brokerage/orders")
        assert ring.verify(build_jwt(key), uri=None).key_name == name  # WebSocket token
    assert {make_api_key(*k, name_var="K", secret_var="S").algorithm for k in (ec_key, ed_key)} == {
        "ES256",
        "EdDSA",
    }


def test_expired_unknown_and_forged_tokens_are_refused(
    ec_key: tuple[str, str], ed_key: tuple[str, str]
) -> None:
    ring = KeyRing()
    ring.add_secret(*ec_key)
    key = make_api_key(*ec_key, name_var="K", secret_var="S")
    past = int(time.time()) - 600
    expired = pyjwt.encode(
        {"sub": key.name, "iss": "cdp", "nbf": past, "exp": past + 120},
        key.private_key,
        algorithm="ES256",
        headers={"kid": key.name},
    )
    with pytest.raises(AuthError, match="expired"):
        ring.verify(expired, uri=None)
    stranger = make_api_key(*ed_key, name_var="K", secret_var="S")
    with pytest.raises(AuthError, match="unknown API key"):
        ring.verify(build_jwt(stranger), uri=None)
    forged = pyjwt.encode(
        {"sub": key.name, "iss": "cdp", "nbf": int(time.time()), "exp": int(time.time()) + 60},
        stranger.private_key,
        algorithm="EdDSA",
        headers={"kid": key.name},
    )
    with pytest.raises(AuthError):
        ring.verify(forged, uri=None)
    with pytest.raises(AuthError, match="malformed"):
        ring.verify("not-a-token", uri=None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("api.coinbase.com", ("https", "api.coinbase.com")),
        ("https://api.coinbase.com/", ("https", "api.coinbase.com")),
        ("http://127.0.0.1:8765", ("http", "127.0.0.1:8765")),
        ("http://localhost:9", ("http", "localhost:9")),
    ],
)
def test_api_base_forms(text: str, expected: tuple[str, str]) -> None:
    endpoint = parse_api_base(text)
    assert (endpoint.scheme, endpoint.host) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("http://api.coinbase.com", "only for a loopback"),
        ("ftp://x", "scheme"),
        ("https://api.coinbase.com/api/v3", "host and port only"),
    ],
)
def test_api_base_refusals(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"COINBASE_API_BASE: .*{problem}"):
        parse_api_base(text)
