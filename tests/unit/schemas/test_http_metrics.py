"""The APIs' request metrics: counted by route template and status, /metrics itself not."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from schemas import http_metrics


def test_requests_are_counted_by_route_template_and_status() -> None:
    app = FastAPI()
    http_metrics.install(app, "unit")

    @app.get("/items/{sku}")
    async def item(sku: str) -> dict[str, str]:
        return {"sku": sku}

    with TestClient(app) as client:
        for sku in ("A-1", "B-2", "C-3"):
            assert client.get(f"/items/{sku}").status_code == 200
        assert client.get("/nowhere").status_code == 404
        text = client.get("/metrics").text
        client.get("/metrics")

    assert (
        'eventcart_http_requests_total{api="unit",method="GET",route="/items/{sku}",status="200"} 3.0'
        in text
    )
    assert 'route="unmatched",status="404"' in text
    assert 'route="/metrics"' not in text
    assert 'eventcart_http_request_seconds_count{api="unit",route="/items/{sku}"} 3.0' in text
