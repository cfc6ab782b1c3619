"""The HTTP APIs refuse to listen beyond loopback with the default token."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from producers import http_api
from read_models import query_api
from schemas.config.api_exposure import UnsafeExposureError, check_api_exposure, is_loopback
from schemas.config.settings import DEFAULT_API_TOKEN, Settings


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "192.168.0.7", "api.example.com"])
def test_everything_else_is_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_default_token_on_a_network_address_is_refused_by_name() -> None:
    with pytest.raises(UnsafeExposureError, match="EVENTCART_API_TOKEN") as caught:
        check_api_exposure("0.0.0.0", DEFAULT_API_TOKEN, "the command API")
    assert "0.0.0.0" in str(caught.value)
    assert "EVENTCART_API_HOST" in str(caught.value)


def test_own_token_may_listen_anywhere_and_default_token_on_loopback() -> None:
    check_api_exposure("0.0.0.0", "a-secret-of-our-own", "the command API")
    check_api_exposure("127.0.0.1", DEFAULT_API_TOKEN, "the command API")


@pytest.mark.parametrize("serve", [http_api.serve, query_api.serve])
def test_both_apis_refuse_before_touching_a_store(serve: object) -> None:
    # Unreachable stores: the refusal comes first, without any connection attempt.
    settings = Settings(
        api_host="0.0.0.0",
        api_token=SecretStr(DEFAULT_API_TOKEN),
        kafka_bootstrap_servers="127.0.0.1:1",
        elasticsearch_url="http://127.0.0.1:1",
        postgres_dsn=SecretStr("postgresql://u:p@127.0.0.1:1/db"),
    )
    assert settings.api_token.get_secret_value() == DEFAULT_API_TOKEN
    with pytest.raises(UnsafeExposureError):
        serve(settings)  # type: ignore[operator]
