"""The feed upload route's own behaviour, with no services: a dictionary stands in for
the read models and nothing is sent (dry runs), so what is checked here is the
route (ids, limits, answers), the status file and the restart rule; the real
round trip is in ``tests/integration/producers/test_http_imports.py``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from producers.client import CommandClient
from producers.feeds.importer import ImportReport
from producers.feeds.view import Listed
from producers.http_api import create_app
from producers.http_imports import (
    INTERRUPTED,
    ImportJobs,
    ImportStatus,
    busy,
    import_dir,
    interrupted,
    lock,
    read_status,
    write_status,
)
from schemas.config.settings import Settings

AUTH = {"Authorization": "Bearer unit-token"}
FEED = (
    b"id\ttitle\tdescription\tbrand\tproduct_type\tprice\n"
    b"U-1\tTrail shoe\tLight\tAcme\tShoes > Running\t29.99 EUR\n"
    b"U-2\tRoad shoe\tFast\tAcme\tShoes > Running\tabc\n"
    b"U-3\tSock\tWarm\tAcme\tSocks\t4.50 EUR\n"
)
ID = "import-" + "0" * 32


class Catalog:
    """A catalog view over a dictionary; ``gate`` holds every lookup until it is set."""

    def __init__(self) -> None:
        self.listed: dict[str, Listed] = {}
        self.gate = threading.Event()
        self.gate.set()
        self.closed = 0

    def lookup(self, skus: Sequence[str]) -> Mapping[str, Listed]:
        assert self.gate.wait(30)
        return {sku: self.listed[sku] for sku in skus if sku in self.listed}

    def active_skus(self) -> Iterator[str]:
        return iter(self.listed)

    def close(self) -> None:
        self.closed += 1


class NoKafka(CommandClient):
    """The app's client, never used by a dry run."""

    def __init__(self) -> None:
        pass

    @property
    def listener(self) -> Any:
        return None

    def close(self, timeout_s: float = 60.0) -> None:
        pass


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path,
        api_token=SecretStr("unit-token"),
        api_max_body_bytes=64,
        import_max_bytes=4096,
    )


@pytest.fixture
def catalog() -> Catalog:
    return Catalog()


@pytest.fixture
def api(settings: Settings, catalog: Catalog) -> Iterator[TestClient]:
    with TestClient(create_app(settings, NoKafka(), catalog_factory=lambda: catalog)) as client:
        yield client


def upload(api: TestClient, body: bytes = FEED, **params: Any) -> httpx.Response:
    response: httpx.Response = api.post(
        "/imports", content=body, params={"dry_run": True, **params}, headers=AUTH
    )
    return response


def finished(api: TestClient, url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        status: dict[str, Any] = api.get(url, headers=AUTH).json()
        if status["status"] != "running":
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.02)


# --- the pure parts ----------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["..", "../etc", "import-" + "0" * 31, "import-" + "A" * 32, ID + "/x", "", "x" + ID]
)
def test_only_ids_shaped_like_ours_name_a_directory(tmp_path: Path, name: str) -> None:
    assert import_dir(tmp_path, name) is None
    assert import_dir(tmp_path, ID) == tmp_path / ID


def test_the_status_file_round_trips_and_is_replaced_whole(tmp_path: Path) -> None:
    report = ImportReport(rows=3, registered=2, refused=1, warnings=["w"], bytes_total=9)
    status = ImportStatus(import_id=ID, status="running", started_at="s", report=report)
    write_status(tmp_path, status)
    assert read_status(tmp_path) == status
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no temporary left
    assert read_status(tmp_path / "nowhere") is None
    (tmp_path / "status.json").write_text("{half")
    assert read_status(tmp_path) is None


def test_a_running_import_whose_thread_is_gone_was_interrupted() -> None:
    running = ImportStatus(import_id=ID, status="running", started_at="s", report=ImportReport())
    failed = interrupted(running)
    assert (failed.status, failed.error) == ("failed", INTERRUPTED)
    assert failed.finished_at is not None
    done = running.model_copy(update={"status": "done", "finished_at": "f"})
    assert interrupted(done) == done


def test_running_is_believed_while_the_lock_is_held_by_any_process(tmp_path: Path) -> None:
    directory = tmp_path / "imports" / ID
    directory.mkdir(parents=True)
    running = ImportStatus(import_id=ID, status="running", started_at="s", report=ImportReport())
    write_status(directory, running)
    jobs = ImportJobs(Settings(home=tmp_path), None, lambda: None)
    held = lock(directory)  # as another process's upload or import thread holds it
    assert held is not None
    assert lock(directory) is None
    assert busy(directory)
    jobs.recover()
    assert jobs.status(ID) == running == read_status(directory)
    held.close()  # the process is gone: the system releases its locks
    assert not busy(directory)
    status = jobs.status(ID)
    assert status is not None
    assert (status.status, status.error) == ("failed", INTERRUPTED)
    assert jobs.status("import-" + "9" * 32) is None
    assert jobs.status("../" + ID) is None


def test_recovery_at_startup_marks_running_imports_failed(tmp_path: Path) -> None:
    root = tmp_path / "imports"
    cut, done, upload, other = (
        root / ID,
        root / ("import-" + "1" * 32),
        root / ("import-" + "2" * 32),
        root / "keep",
    )
    for directory in (cut, done, upload, other):
        directory.mkdir(parents=True)
        (directory / "feed").write_text("id\n")
    report = ImportReport(rows=7)
    write_status(cut, ImportStatus(import_id=ID, status="running", started_at="s", report=report))
    (cut / "refused.csv.part").write_text("line,column,field,rule,message\r\n")
    finished_status = ImportStatus(
        import_id=done.name, status="done", started_at="s", report=report
    )
    write_status(done, finished_status)
    ImportJobs(Settings(home=tmp_path), None, lambda: None).recover()
    after = read_status(cut)
    assert after is not None
    assert (after.status, after.error, after.report.rows) == ("failed", INTERRUPTED, 7)
    assert not (cut / "feed").exists()  # the feed goes; the rows refused so far stay
    assert (cut / "refused.csv").read_text().startswith("line,column")
    assert read_status(done) == finished_status
    assert not upload.exists()  # an upload that never finished
    assert (other / "feed").exists()  # not ours: untouched


# --- the routes --------------------------------------------------------------------
def test_a_dry_run_upload_is_imported_in_the_background(api: TestClient, catalog: Catalog) -> None:
    response = upload(api, map="product_type=product_type")
    assert response.status_code == 202, response.text
    accepted = response.json()
    import_id = accepted["import_id"]
    assert accepted == {
        "import_id": import_id,
        "status": "running",
        "status_url": f"/imports/{import_id}",
        "refused_url": f"/imports/{import_id}/refused",
    }
    status = finished(api, accepted["status_url"])
    assert (status["status"], status["error"]) == ("done", None)
    report = status["report"]
    assert (report["rows"], report["registered"], report["price"], report["refused"]) == (
        3,
        2,
        2,
        1,
    )
    assert (report["sent"], report["dry_run"]) == (0, True)
    assert report["bytes_read"] == report["bytes_total"] == len(FEED)
    assert status["started_at"] <= status["finished_at"]
    refused = api.get(accepted["refused_url"], headers=AUTH)
    assert refused.status_code == 200
    assert refused.headers["content-type"].startswith("text/csv")
    header, row = refused.text.splitlines()
    assert header == "line,column,field,rule,message"
    assert row.startswith("3,price,price,pattern,")
    assert catalog.closed == 1
    # what stays on disk: the status and the refused rows, not the feed
    directory = api.app.state.imports.root / import_id  # type: ignore[attr-defined]
    assert sorted(p.name for p in directory.iterdir()) == ["lock", "refused.csv", "status.json"]


def test_a_running_import_shows_its_progress_and_holds_its_refused_rows(
    api: TestClient, catalog: Catalog
) -> None:
    catalog.gate.clear()
    accepted = upload(api).json()
    running = api.get(accepted["status_url"], headers=AUTH).json()
    assert running["status"] == "running"
    assert running["finished_at"] is None
    refused = api.get(accepted["refused_url"], headers=AUTH)
    assert refused.status_code == 409
    catalog.gate.set()
    done = finished(api, accepted["status_url"])
    assert done["status"] == "done", done["error"]


def test_the_json_body_limit_does_not_apply_and_the_import_limit_does(api: TestClient) -> None:
    assert upload(api).status_code == 202  # FEED is over api_max_body_bytes (64)
    big = FEED + b"x" * 5000
    declared = upload(api, big)
    assert declared.status_code == 413
    assert declared.json()["detail"][0]["rule"] == "size"

    def chunks() -> Iterator[bytes]:
        yield FEED
        for _ in range(5):
            yield b"x" * 1000

    streamed = api.post("/imports", content=chunks(), params={"dry_run": True}, headers=AUTH)
    assert streamed.status_code == 413
    assert streamed.json()["detail"][0]["rule"] == "size"
    imports = api.app.state.imports  # type: ignore[attr-defined]
    assert imports.slots == 0  # both refused uploads gave their slot back
    assert len(list(imports.root.iterdir())) == 1  # and left nothing on disk


def test_an_empty_body_is_422_and_leaves_nothing(api: TestClient) -> None:
    response = upload(api, b"")
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "$"
    imports = api.app.state.imports  # type: ignore[attr-defined]
    assert imports.slots == 0
    assert list(imports.root.iterdir()) == []


def test_more_imports_than_the_limit_are_429(api: TestClient) -> None:
    imports = api.app.state.imports  # type: ignore[attr-defined]
    imports.slots = imports.max_running
    response = upload(api)
    assert response.status_code == 429
    assert response.headers["retry-after"]
    imports.slots = 0
    assert upload(api).status_code == 202


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"tz": "Mars/Olympus"}, "query.tz"),
        ({"counted_at": "yesterday"}, "query.counted_at"),
        ({"map": "title"}, "query.map[0]"),
        ({"map": " =name"}, "query.map[0]"),
        ({"format": "xml"}, "query.format"),
    ],
)
def test_bad_options_are_422_before_the_body_is_read(
    api: TestClient, params: dict[str, Any], field: str
) -> None:
    response = upload(api, **params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["field"] == field


def test_a_wall_clock_counted_at_is_read_in_tz(api: TestClient) -> None:
    response = upload(api, counted_at="2026-12-07 02:00", tz="Europe/Berlin")
    assert response.status_code == 202, response.text


def test_unknown_ids_are_404_malformed_ones_422_and_a_token_is_needed(api: TestClient) -> None:
    assert api.get(f"/imports/{ID}", headers=AUTH).status_code == 404
    assert api.get(f"/imports/{ID}/refused", headers=AUTH).status_code == 404
    assert api.get("/imports/..%2F..%2Fetc", headers=AUTH).status_code in (404, 422)
    assert api.get("/imports/import-xyz", headers=AUTH).status_code == 422
    assert api.get(f"/imports/{ID}").status_code == 401
    assert api.post("/imports", content=FEED).status_code == 401


def test_without_a_catalog_the_upload_is_503(settings: Settings) -> None:
    with TestClient(create_app(settings, NoKafka())) as api:
        response = upload(api)
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert "detail" in response.json()


def test_an_import_cut_short_by_a_restart_is_reported_failed(
    settings: Settings, catalog: Catalog
) -> None:
    directory = settings.home / "imports" / ID
    directory.mkdir(parents=True)
    cut = ImportStatus(import_id=ID, status="running", started_at="s", report=ImportReport(rows=5))
    write_status(directory, cut)
    with TestClient(create_app(settings, NoKafka(), catalog_factory=lambda: catalog)) as api:
        status = api.get(f"/imports/{ID}", headers=AUTH).json()
    assert (status["status"], status["error"], status["report"]["rows"]) == (
        "failed",
        INTERRUPTED,
        5,
    )


def test_openapi_documents_the_routes(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    upload_doc = paths["/imports"]["post"]
    assert {"202", "401", "413", "422", "429", "503"} <= set(upload_doc["responses"])
    assert "application/octet-stream" in upload_doc["requestBody"]["content"]
    names = {p["name"] for p in upload_doc["parameters"]}
    assert names == {"format", "map", "tz", "counted_at", "dry_run", "discontinue_missing"}
    status_doc = paths["/imports/{import_id}"]["get"]
    schema = status_doc["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ImportStatus"}
    assert {"200", "404"} <= set(paths["/imports/{import_id}/refused"]["get"]["responses"])
    assert upload_doc["security"] == [{"bearerAuth": []}]
