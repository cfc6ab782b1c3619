"""Bad situations give a clear message naming the service, not a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ops.stack import maven
from ops.stack.errors import StackError
from ops.stack.java import find_java, java_version
from ops.stack.kafka import Kafka
from schemas.config.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_java_too_old_is_named(tmp_path: Path) -> None:
    fake = tmp_path / "jdk-11"
    (fake / "bin").mkdir(parents=True)
    (fake / "bin" / "java").write_text("")
    (fake / "release").write_text('JAVA_VERSION="11.0.2"\n')
    assert java_version(fake) == 11
    with pytest.raises(StackError, match="is Java 11; elasticsearch needs Java 21 or newer"):
        find_java("elasticsearch", 21, configured=fake)


def test_download_that_fails_is_named(tmp_path: Path) -> None:
    with pytest.raises(StackError) as caught:
        maven.fetch_artifact("kafka", "org.apache.kafka:kafka_2.13:0.0.0-missing:jar", tmp_path)
    assert caught.value.service == "kafka"
    assert "download from Maven Central failed" in caught.value.message


def test_service_that_dies_at_start_shows_its_log(settings: Settings, tmp_path: Path) -> None:
    broken = settings.model_copy(
        update={
            "home": tmp_path,
            "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
            "kafka_controller_port": free_port(),
            "kafka_heap": "1x",  # not a heap size: the JVM refuses to start
        }
    )
    kafka = Kafka(broken)
    kafka.start()
    with pytest.raises(StackError) as caught:
        kafka.wait()
    kafka.stop()
    assert caught.value.service == "kafka"
    assert "exited during start" in caught.value.message
    assert "Invalid initial heap size" in caught.value.log_tail
