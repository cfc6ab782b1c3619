"""Apache Kafka in KRaft mode from Maven Central: one combined broker and controller,
or a cluster of them on loopback.

A single node formats its storage as a standalone (dynamic) quorum. A cluster
(``EVENTCART_KAFKA_BROKERS=3``) runs nodes ``kafka-1`` .. ``kafka-N``, each both
broker and controller, with a static quorum of all of them and one cluster id
shared through a file, each with its own ports and data folder (the single
node's folder is left alone, so switching between the two keeps both).
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from ops.stack import maven, process, tls
from ops.stack.errors import StackError
from ops.stack.java import find_java
from ops.stack.service import Service
from schemas.config.connections import kafka_config
from schemas.config.settings import Settings
from schemas.topics import replication

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

    def __init__(self, settings: Settings, node: int = 1) -> None:
        super().__init__(settings)
        self.node = node
        self.clustered = settings.kafka_brokers > 1
        self.name = f"kafka-{node}" if self.clustered else "kafka"

    @property
    def port(self) -> int:
        return self.settings.kafka_broker_port(self.node)

    @property
    def controller_port(self) -> int:
        return self.settings.kafka_controller_port_of(self.node)

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
        rf, isr = replication(s, s.kafka_brokers)
        if self.clustered:
            voters = ",".join(
                f"{n}@127.0.0.1:{s.kafka_controller_port_of(n)}"
                for n in range(1, s.kafka_brokers + 1)
            )
            quorum = f"controller.quorum.voters={voters}"
        else:
            quorum = f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}"
        self.config_file.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    f"node.id={self.node}",
                    quorum,
                    *self._listeners(),
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
                    # A broker that died without a word is fenced (its partitions
                    # led elsewhere) after this long; loopback heartbeats are cheap
                    # (Kafka's 9 s would hold every write to its partitions that long).
                    "broker.heartbeat.interval.ms=500",
                    "broker.session.timeout.ms=3000",
                    "message.max.bytes=1048588",
                    "",
                ]
            )
        )
        (self.home / "log4j2.xml").write_text(_LOG4J2)
        if not (self.data_dir / "meta.properties").exists():
            self._format_storage()

    def _listeners(self) -> list[str]:
        """The client listener (clear, or SASL/SCRAM over TLS in the secured stack)
        and the controller's.

        Secured, clients and the brokers among themselves authenticate with
        SCRAM-SHA-512 over TLS; the controller listener stays in clear text on
        loopback: KRaft cannot check SCRAM on it (the credentials live in the
        metadata the controllers serve), and it only ever binds 127.0.0.1.
        """
        s, name = self.settings, self._listener_name
        lines = [
            f"listeners={name}://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners={name}://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            f"listener.security.protocol.map=CONTROLLER:PLAINTEXT,{name}:{name}",
            f"inter.broker.listener.name={name}",
        ]
        if not s.stack_secure:
            return lines
        certs = tls.Certificates(s.home / "tls")
        password = s.kafka_sasl_password.get_secret_value() if s.kafka_sasl_password else ""
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{s.kafka_sasl_username}" password="{password}";'
        )
        mechanism = s.kafka_sasl_mechanism.lower()
        return [
            *lines,
            f"sasl.enabled.mechanisms={s.kafka_sasl_mechanism}",
            f"sasl.mechanism.inter.broker.protocol={s.kafka_sasl_mechanism}",
            f"listener.name.{name.lower()}.{mechanism}.sasl.jaas.config={jaas}",
            # PEM files, as made by `ops.stack.tls`: no Java keystore to convert.
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={self._keystore(certs)}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={certs.ca}",
            "ssl.client.auth=none",
            # Each role's principal may only what its ACLs say (``ops.stack.principals``).
            # The administrator is a super user; so is the controller listener's
            # ANONYMOUS, which is how the brokers reach the controllers in clear text on
            # loopback (KRaft authorizes that traffic before any ACL is loaded).
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            f"super.users=User:{s.kafka_sasl_username};User:ANONYMOUS",
            "allow.everyone.if.no.acl.found=false",
        ]

    @property
    def _listener_name(self) -> str:
        return "SASL_SSL" if self.settings.stack_secure else "PLAINTEXT"

    def _keystore(self, certs: tls.Certificates) -> Path:
        """Kafka's PEM keystore: the private key and the certificate in one file."""
        keystore = self.home / "keystore.pem"
        keystore.write_text(certs.key.read_text() + certs.certificate.read_text())
        keystore.chmod(0o600)
        return keystore

    def _scram_users(self) -> list[str]:
        """``--add-scram`` of the storage format: KRaft keeps SCRAM credentials in its
        metadata, so the first user must exist before the broker first starts."""
        s = self.settings
        if not s.stack_secure:
            return []
        password = s.kafka_sasl_password.get_secret_value() if s.kafka_sasl_password else ""
        return [
            "--add-scram",
            f"{s.kafka_sasl_mechanism}=[name={s.kafka_sasl_username},password={password}]",
        ]

    def _format_storage(self) -> None:
        proc = subprocess.run(
            [
                str(self._java()),
                "-cp",
                f"{self.libs}/*",
                f"-Dlog4j2.configurationFile={self.home / 'log4j2.xml'}",
                "kafka.tools.StorageTool",
                "format",
                # A cluster's voters are static (in the configuration); one node alone
                # is its own quorum.
                *([] if self.clustered else ["--standalone"]),
                *self._scram_users(),
                "-t",
                self._cluster_id(),
                "-c",
                str(self.config_file),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise StackError(self.name, "formatting the KRaft storage failed", proc.stderr[-4000:])

    def _cluster_id(self) -> str:
        """One id for every node of a cluster (kept beside their folders), a new one
        for a single node."""
        if not self.clustered:
            return new_cluster_id()
        shared = self.settings.home / "kafka-cluster.id"
        if not shared.exists():
            shared.parent.mkdir(parents=True, exist_ok=True)
            shared.write_text(new_cluster_id())
        return shared.read_text().strip()

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
        # Asked on this node's own port: a cluster's node is healthy when it
        # serves metadata itself (the quorum has a leader and it has joined).
        admin = AdminClient(
            kafka_config(
                self.settings, **{"bootstrap.servers": f"127.0.0.1:{self.port}", "log_level": 0}
            )
        )
        try:
            metadata = admin.list_topics(timeout=3)
        except Exception:
            return False
        return self.node in metadata.brokers
