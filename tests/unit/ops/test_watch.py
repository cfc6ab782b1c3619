"""`eventcart watch`'s pure parts (the SSE parser, the lines, the server's refusals, the
backoff) and its reconnecting, against a scripted server (httpx's MockTransport)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from ops.cli import app
from ops.cli import watch as w
from schemas.config.settings import Settings


def test_the_parser_reads_events_as_eventsource_does() -> None:
    parser = w.SseParser()
    events = list(
        parser.events(
            [
                "retry: 1000",
                "event: ready",
                "id: 0:5,1:7",
                'data: {"after": "0:5,1:7"}',
                "",
                ": keep-alive",
                "",
                "id:1:8",  # no space after the colon
                "data:line one",
                "data: line two",
                "",
                "data: inherits the id",
                "",
                "data: cut short by the end of the stream",
            ]
        )
    )
    assert events == [
        w.SseEvent("ready", '{"after": "0:5,1:7"}', "0:5,1:7"),
        w.SseEvent("message", "line one\nline two", "1:8"),
        w.SseEvent("message", "inherits the id", "1:8"),
    ]
    assert parser.retry_ms == 1000
    assert parser.last_id == "1:8"


def test_an_id_without_data_moves_the_last_id_but_sends_nothing() -> None:
    parser = w.SseParser()
    assert list(parser.events(["id: 0:9", "", "retry: soon", ""])) == []
    assert parser.last_id == "0:9"
    assert parser.retry_ms is None


def message(
    kind: str, type_: str, change: dict[str, Any], sku: str = "DEMO-00001"
) -> dict[str, Any]:
    return {
        "sku": sku,
        "kind": kind,
        "type": type_,
        "version": 12,
        "occurred_at": "2026-12-07T14:36:18.221364Z",
        "change": change,
    }


@pytest.mark.parametrize(
    ("kind", "type_", "change", "gist"),
    [
        (
            "price",
            "PriceChanged",
            {"amount": "12.35", "currency": "EUR", "price_type": "regular"},
            "EUR 12.35 (regular)",
        ),
        ("price", "PriceChanged", {"price": "9.5", "currency": "USD"}, "USD 9.5 (regular)"),
        (
            "price",
            "RegularPriceChanged",
            {"amount": "70", "currency": "EUR", "schedule_id": "s"},
            "EUR 70 (regular)",
        ),
        (
            "stock",
            "StockAdjusted",
            {"delta": 3, "quantity": 159, "reason": "restock"},
            "+3 -> 159 (restock)",
        ),
        (
            "stock",
            "StockAdjusted",
            {"delta": -2, "quantity": 0, "reason": "sale"},
            "-2 -> 0 (sale)",
        ),
        ("details", "ProductDetailsUpdated", {"name": "x", "brand": "y"}, "brand, name"),
        ("lifecycle", "ProductRegistered", {"name": "x", "brand": "y"}, "registered"),
        ("lifecycle", "ProductDiscontinued", {"reason": "recalled"}, "discontinued (recalled)"),
        (
            "schedule",
            "PriceChangeScheduled",
            {
                "schedule_id": "s1",
                "currency": "EUR",
                "amount": "59.90",
                "price_type": "sale",
                "starts_at": "2026-12-24T00:00:00Z",
                "ends_at": "2026-12-27T00:00:00Z",
                "replaces": False,
            },
            "scheduled EUR 59.90 (sale) from 2026-12-24T00:00:00Z until 2026-12-27T00:00:00Z",
        ),
        (
            "schedule",
            "PriceChangeScheduleCancelled",
            {"schedule_id": "s1", "currency": "EUR", "reason": "cancelled"},
            "cancelled EUR s1 (cancelled)",
        ),
        ("stock", "StockAdjusted", {"quantity": 1}, "StockAdjusted"),  # a shape it does not know
    ],
)
def test_one_readable_line_per_change(
    kind: str, type_: str, change: dict[str, Any], gist: str
) -> None:
    assert w.change_line(message(kind, type_, change)) == (
        f"14:36:18  DEMO-00001  {kind:<9}  {gist}"
    )


def test_refusals_name_the_option_and_quote_the_server() -> None:
    body = {
        "detail": [
            {"field": "query.sku", "rule": "pattern", "message": "'a b' is not a SKU"},
            {"field": "header.last-event-id", "rule": "future", "message": "beyond the end"},
        ]
    }
    assert (
        w.refusal(422, orjson.dumps(body)) == "--sku: 'a b' is not a SKU; --after: beyond the end"
    )
    assert w.refusal(410, b'{"detail": "past retention"}') == "past retention"
    assert w.refusal(418, b"teapot") == "HTTP 418: teapot"


def test_backoff_doubles_up_to_a_cap_and_retry_after_is_read() -> None:
    assert [w.backoff_s(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 4, 8, 16, 30, 30]
    assert w.backoff_s(1, first_s=0.5) == 0.5
    assert w.backoff_s(3, jitter=1.0) == 3.0
    assert w.retry_after_s("5") == 5.0
    assert w.retry_after_s("Wed, 21 Oct 2026 07:28:00 GMT") is None
    assert w.retry_after_s(None) is None


def test_the_default_url_is_the_local_query_api() -> None:
    settings = Settings()
    assert w.default_url(settings.model_copy(update={"query_api_port": 9002})) == (
        "http://127.0.0.1:9002"
    )
    assert w.default_url(settings.model_copy(update={"api_host": "0.0.0.0"})).startswith(
        "http://127.0.0.1:"
    )
    assert w.default_url(settings.model_copy(update={"api_host": "::1"})).startswith(
        "http://[::1]:"
    )


# --- against a scripted server -----------------------------------------------------


def sse(*events: tuple[str | None, str, dict[str, Any]]) -> list[bytes]:
    chunks = []
    for name, id_, data in events:
        head = f"event: {name}\n" if name else ""
        chunks.append(f"{head}id: {id_}\ndata: {orjson.dumps(data).decode()}\n\n".encode())
    return chunks


def price(sku: str, amount: str) -> dict[str, Any]:
    return message("price", "PriceChanged", {"amount": amount, "currency": "EUR"}, sku)


Answer = Callable[[httpx.Request], httpx.Response]


def stream(*chunks: bytes, then: BaseException | None = None) -> httpx.Response:
    def body() -> Iterator[bytes]:
        yield from chunks
        if then is not None:
            raise then

    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())


class Server:
    """Answers requests in turn; keeps them to check what the client asked."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0)(request)


def session(server: Server, **options: Any) -> tuple[w.Watch, list[str], list[str], list[float]]:
    out: list[str] = []
    notes: list[str] = []
    slept: list[float] = []
    client = httpx.Client(transport=httpx.MockTransport(server))
    watch = w.Watch(
        client,
        "http://api",
        [("sku", "A")],
        emit=out.append,
        note=notes.append,
        sleep=slept.append,
        jitter=lambda: 0.0,
        **options,
    )
    return watch, out, notes, slept


def test_it_resumes_after_drops_cuts_and_busy_answers_without_a_gap_or_a_repeat() -> None:
    server = Server(
        lambda r: stream(
            b"retry: 500\n",
            *sse(("ready", "r0", {}), (None, "a1", price("A", "1"))),
            then=httpx.ReadError("connection reset"),
        ),
        lambda r: stream(
            *sse(
                (None, "a2", price("A", "2")),
                ("cut", "a2", {"error": "too_slow", "resume_after": "a2"}),
            )
        ),
        lambda r: httpx.Response(503, headers={"retry-after": "3"}, json={"detail": "busy"}),
        lambda r: httpx.Response(502, text="bad gateway"),
        lambda r: stream(*sse(("ready", "a2", {}), (None, "a3", price("A", "3")))),
        lambda r: stream(*sse((None, "a4", price("A", "4")))),  # the end: the server closed it
        lambda r: stream(*sse((None, "a5", price("A", "5")))),
    )
    watch, out, notes, slept = session(server, count=5, as_json=True, last_id="a0")
    watch.run()
    assert [orjson.loads(line)["change"]["amount"] for line in out] == ["1", "2", "3", "4", "5"]
    asked = [
        (r.url.params.get_list("after"), r.headers.get("last-event-id"), r.url.params["sku"])
        for r in server.requests
    ]
    assert asked == [
        (["a0"], None, "A"),  # --after, then the header (after= would win over it)
        ([], "a1", "A"),
        ([], "a2", "A"),
        ([], "a2", "A"),
        ([], "a2", "A"),
        ([], "a3", "A"),
        ([], "a4", "A"),
    ]
    # the server's retry: 500 ms, doubled on failures in a row; Retry-After when given
    assert slept == [0.5, 0.5, 3.0, 2.0, 0.5, 0.5]
    assert watch.last_id == "a5"
    assert sum("reconnected" in n for n in notes) == 4
    assert any("cut the stream off (too_slow)" in n for n in notes)
    assert sum("watching" in n for n in notes) == 1


def test_lines_for_people_and_nothing_for_keep_alives_and_ready() -> None:
    server = Server(
        lambda r: stream(
            b": keep-alive\n\n",
            *sse(("ready", "r0", {"after": "r0"}), (None, "a1", price("A", "12.35"))),
        )
    )
    watch, out, _, _ = session(server, count=1)
    watch.run()
    assert out == ["14:36:18  A  price      EUR 12.35 (regular)"]


def test_a_refusal_is_not_retried() -> None:
    server = Server(
        lambda r: httpx.Response(
            422,
            json={"detail": [{"field": "query.kind", "rule": "enum", "message": "kind 'x' ..."}]},
        )
    )
    watch, _, _, slept = session(server)
    with pytest.raises(w.RefusedError, match=r"--kind: kind 'x' \.\.\.") as refused:
        watch.run()
    assert refused.value.code == 2
    assert slept == []


# --- the command ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_api_is_named_and_exits_4() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(app, ["watch", "--url", url], env={"COLUMNS": "300"})
    assert result.exit_code == 4, result.output
    assert f"cannot reach the query API at {url}" in result.stderr
    assert result.stdout == ""


def with_server(monkeypatch: pytest.MonkeyPatch, server: Server) -> None:
    monkeypatch.setattr(
        w, "make_client", lambda _: httpx.Client(transport=httpx.MockTransport(server))
    )


def test_a_refused_request_prints_the_reason_and_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    with_server(
        monkeypatch,
        Server(lambda r: httpx.Response(410, json={"detail": "past the topic's retention"})),
    )
    result = CliRunner().invoke(
        app, ["watch", "--after", "0:1", "--url", "http://api"], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 2, result.output
    assert "refused past the topic's retention" in result.stderr


def test_ctrl_c_exits_0_saying_where_to_resume(monkeypatch: pytest.MonkeyPatch) -> None:
    server = Server(
        lambda r: stream(
            *sse(("ready", "r0", {}), (None, "0:41,1:7", price("A", "1"))),
            then=KeyboardInterrupt(),
        )
    )
    with_server(monkeypatch, server)
    result = CliRunner().invoke(
        app,
        ["watch", "--sku", "A", "--currency", "eur", "--json", "--url", "http://api/"],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["change"]["amount"] == "1"
    assert result.stderr.splitlines()[-1] == "stopped; resume with --after 0:41,1:7"
    assert server.requests[0].url == "http://api/changes?sku=A&currency=EUR"


def test_count_exits_0_saying_where_to_resume(monkeypatch: pytest.MonkeyPatch) -> None:
    with_server(
        monkeypatch,
        Server(
            lambda r: stream(*sse((None, "a1", price("A", "1")), (None, "a2", price("A", "2"))))
        ),
    )
    result = CliRunner().invoke(
        app, ["watch", "--count", "1", "--url", "http://api"], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "14:36:18  A  price      EUR 1 (regular)\n"
    assert result.stderr.splitlines()[-1] == "1 change; resume with --after a1"
