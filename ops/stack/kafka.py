"""Apache Kafka in KRaft mode (one combined broker and controller) from Maven Central."""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from ops.stack import maven, process
from ops.stack.errors import StackError
from ops.stack.java import find_java
from ops.stack.service import Service

_LOG4J2 = """<Configuration status="WARN">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="org.apache.kafka.storage.internals.log.LogCleaner" level="WARN"/>
    <Root level="INFO"><AppenderRef ref="stdout"/></Root>
  </Loggers>
</Configuration>
"""


def new_cluster_id() -> str:
    """A Kafka cluster id: a random UUID in URL-safe base64 that does not start with '-'."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class Kafka(Service):
    name = "kafka"

    @property
    def port(self) -> int:
        return self.settings.kafka_port

    @property
    def version(self) -> str:
        return self.settings.kafka_version

    @property
    def libs(self) -> Path:
        return self.settings.cache_dir / f"kafka-{self.version}" / "libs"

    def installed(self) -> bool:
        return (self.libs / f"kafka_2.13-{self.version}.jar").exists()

    def install(self) -> None:
        maven.copy_runtime_classpath(
            self.name,
            [
                f"org.apache.kafka:kafka_2.13:{self.version}",
                # Kafka logs through slf4j 1.x; this routes it to log4j2.
                "org.apache.logging.log4j:log4j-slf4j-impl:2.24.3",
            ],
            self.libs,
        )

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    def _java(self) -> Path:
        return find_java(self.name, 17, self.settings.java_home) / "bin" / "java"

    def prepare(self) -> None:
        s = self.settings
        self.home.mkdir(parents=True, exist_ok=True)
        rf, isr = s.replication_factor, s.min_insync_replicas
        self.config_file.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{s.kafka_controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={self.data_dir}",
                    f"num.partitions={s.partitions}",
                    # Topics are created on purpose, with explicit settings, never by accident.
                    "auto.create.topics.enable=false",
                    f"offsets.topic.replication.factor={rf}",
                    f"transaction.state.log.replication.factor={rf}",
                    f"transaction.state.log.min.isr={isr}",
                    f"share.coordinator.state.topic.replication.factor={rf}",
                    f"share.coordinator.state.topic.min.isr={isr}",
                    f"default.replication.factor={rf}",
                    f"min.insync.replicas={isr}",
                    "group.initial.rebalance.delay.ms=0",
                    "message.max.bytes=1048588",
                    "",
                ]
            )
        )
        (self.home / "log4j2.xml").write_text(_LOG4J2)
        if not (self.data_dir / "meta.properties").exists():
            self._format_storage()

    def _format_storage(self) -> None:
        proc = subprocess.run(
            [
                str(self._java()),
                "-cp",
                f"{self.libs}/*",
                f"-Dlog4j2.configurationFile={self.home / 'log4j2.xml'}",
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                new_cluster_id(),
                "-c",
                str(self.config_file),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise StackError(self.name, "formatting the KRaft storage failed", proc.stderr[-4000:])

    def command(self) -> list[str]:
        heap = self.settings.kafka_heap
        return [
            str(self._java()),
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.xml'}",
            f"-Dkafka.logs.dir={self.log_file.parent}",
            "-cp",
            f"{self.libs}/*",
            "kafka.Kafka",
            str(self.config_file),
        ]

    def healthy(self) -> bool:
        if not process.port_is_open(self.port):
            return False
        admin = AdminClient(
            {"bootstrap.servers": self.settings.kafka_bootstrap_servers, "log_level": 0}
        )
        try:
            metadata = admin.list_topics(timeout=3)
        except Exception:
            return False
        return bool(metadata.brokers)
