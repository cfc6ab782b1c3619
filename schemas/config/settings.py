"""Every endpoint, secret and tunable of eventcart, read from ``EVENTCART_*`` variables.

One module, so a deployment is described by its environment alone and the local
stack, the workers, the APIs and the tests can never disagree about where a
service lives: the stack binds to the very ports the clients connect to.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # schemas/config/settings.py -> the project


def _default_cache_dir() -> Path:
    # Services that refuse to run as root (Elasticsearch, PostgreSQL) run as a
    # system user, which cannot read root's home: root caches system-wide.
    if os.geteuid() == 0:
        return Path("/var/cache/eventcart")
    return Path.home() / ".cache" / "eventcart"


#: The API token a fresh checkout has: fine on loopback, refused anywhere else.
DEFAULT_API_TOKEN = "change-me-local-token"  # noqa: S105 (the documented local default)


class Settings(BaseSettings):
    """Configuration with loopback defaults; see the README's table for each variable."""

    model_config = SettingsConfigDict(env_prefix="EVENTCART_", extra="ignore")

    # --- endpoints -------------------------------------------------------
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_controller_port: int = 9093
    #: Brokers `eventcart stack up` starts: 1, or a KRaft cluster of 3 or more on
    #: loopback (broker n on the first port + 2(n-1), its controller on the
    #: controller port + 2(n-1)); with one bootstrap address given, every
    #: client is told all of them.
    kafka_brokers: int = Field(default=1, ge=1, le=9)
    #: One URL, or several comma-separated (every node of a cluster, or a managed
    #: cluster's endpoint); with ``elasticsearch_nodes`` > 1 and one URL given, every
    #: local node is added.
    elasticsearch_url: str = "http://127.0.0.1:9200"
    #: Nodes `eventcart stack up` starts: 1, or a cluster of 3 or more on loopback
    #: (node n's HTTP on the URL's port + n-1, its transport on
    #: ``elasticsearch_transport_port`` + n-1); indices then keep one replica.
    elasticsearch_nodes: int = Field(default=1, ge=1, le=9)
    elasticsearch_transport_port: int = 9300
    postgres_dsn: SecretStr = SecretStr("postgresql://eventcart:eventcart@127.0.0.1:5432/eventcart")
    postgres_reader_password: SecretStr = SecretStr("eventcart_reader")
    #: The pricing projection's role (``<owner>_pricing``): rows of the pricing schema,
    #: no DDL. The local stack makes it; the projection logs in as it where an
    #: operator hands it that role's DSN (the secured stack's ``eventcart up``).
    postgres_pricing_password: SecretStr = SecretStr("eventcart_pricing")
    postgres_admin_password: SecretStr = SecretStr("postgres")
    #: ``host:port`` of a streaming replica of the DSN's server that the query API
    #: reads from (same database, roles and TLS parameters); when it cannot be
    #: reached the API reads the primary. Empty: everything reads the primary.
    #: `eventcart stack up --replica` starts one on 127.0.0.1:5433.
    postgres_replica: str = Field(default="", pattern=r"^$|^[^:/\s]*:[0-9]{1,5}$")

    # --- credentials and TLS, in each client's own names ---------------------
    # (built into client options in one place: ``schemas.config.connections``)
    #: librdkafka's ``security.protocol``.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    #: librdkafka's ``sasl.mechanism`` (used with a SASL_* protocol).
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    #: librdkafka's ``ssl.ca.location``: the CA that signed the brokers' certificates
    #: (unset: the system's trust store).
    kafka_ssl_ca_location: Path | None = None
    #: Basic auth, or an API key (the base64 ``encoded`` form), never both.
    elasticsearch_username: str | None = None
    elasticsearch_password: SecretStr | None = None
    elasticsearch_api_key: SecretStr | None = None
    #: The CA that signed Elasticsearch's HTTP certificate (an https URL; unset:
    #: the system's trust store).
    elasticsearch_ca_certs: Path | None = None
    # PostgreSQL's TLS is libpq's own: ``sslmode``, ``sslrootcert`` ... in the DSN.

    # --- the local stack -------------------------------------------------
    home: Path = Field(default=PROJECT_ROOT / ".eventcart")
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    kafka_version: str = "4.1.1"
    elasticsearch_version: str = "9.2.0"
    postgres_version: str = "15"
    java_home: Path | None = None
    kafka_heap: str = "1g"
    elasticsearch_heap: str = "2g"
    service_user: str = "eventcart"
    #: `eventcart stack up --secure`: Kafka with SASL/SCRAM over TLS, Elasticsearch
    #: with security and TLS, PostgreSQL with TLS and scram passwords only;
    #: credentials and certificates generated under the home (``secure.env``).
    stack_secure: bool = False
    #: `eventcart stack up --replica`: a PostgreSQL streaming replica of the local
    #: server, on this port (point the query API at it with EVENTCART_POSTGRES_REPLICA).
    stack_postgres_replica: bool = False
    postgres_replica_port: int = 5433
    start_timeout_s: float = 120.0

    # --- topics ----------------------------------------------------------
    topic_prefix: str = "eventcart"
    partitions: int = 6
    #: 0 = from the cluster (``schemas.topics.replication``): 3 and min.insync 2 when it
    #: has three brokers or more, 1 and 1 on a single broker.
    replication_factor: int = Field(default=0, ge=0)
    min_insync_replicas: int = Field(default=0, ge=0)

    # --- stream workers ----------------------------------------------------
    worker_id: str = "0"
    processor_batch_max: int = 5000
    # A batch starts at least this long after the one before: fewer, larger transactions
    # under load (each costs the broker markers on every partition it wrote); 0: at once.
    processor_batch_interval_ms: int = Field(default=0, ge=0, le=1000)
    # Static membership (processor and projections): a restarted worker keeps its
    # partitions; one that does not come back loses them after this long.
    session_timeout_ms: int = 10_000
    #: How long one write of a live projection may take before its batch is retried
    #: (Elasticsearch's request timeout; PostgreSQL's statement and lock timeouts): a
    #: store that accepts the connection but stalls is waited out, never forever.
    store_timeout_s: float = Field(default=30.0, gt=0)
    # A transaction open longer than this is aborted by the broker (a zombie's).
    processor_transaction_timeout_ms: int = 10_000
    # How long a stored result answers a repeated command_id (then it is a new command).
    result_retention_s: int = 7 * 24 * 3600
    log_level: str = "warning"
    projection_batch_max: int = 20_000
    projection_batch_within_s: float = 0.05
    metrics_port: int = 9400
    #: `eventcart exporter` (started by `eventcart up`): lag in records and seconds of
    #: every role, read from Kafka, and stuck imports, for Prometheus.
    exporter_port: int = 9399

    # --- tracing (`eventcart stack up --tracing`) --------------------------------
    #: OTLP/HTTP endpoint spans are exported to (the local Jaeger: http://127.0.0.1:4318);
    #: empty: tracing is off and costs one flag check per record.
    tracing_endpoint: str = ""
    #: Share of new traces kept (commands sent by the APIs and clients); what follows a
    #: kept command is kept all along its path, the rest costs nothing downstream.
    #: 1%: a kept command costs its spans' CPU in four processes, and at thousands of
    #: commands/s on few cores 10% cost a median 9% of the throughput (BENCHMARKS.md).
    tracing_sample_ratio: float = Field(default=0.01, ge=0.0, le=1.0)
    #: `eventcart stack up --tracing`: Jaeger (built from its Go module) beside the stack.
    stack_tracing: bool = False
    jaeger_otlp_port: int = 4318
    jaeger_query_port: int = 16686

    # --- monitoring (`eventcart stack up --monitoring`) ------------------------
    #: Prometheus and Alertmanager beside the stack, scraping every role, the
    #: exporter and both APIs, with the alert rules of ops/monitoring/alerts.yml.
    stack_monitoring: bool = False
    prometheus_port: int = 9090
    #: not its usual 9093: that is the local Kafka controller's
    alertmanager_port: int = 9193
    #: Where Alertmanager POSTs every alert and its resolution (its webhook format);
    #: empty: alerts are only shown by its API and page (http://127.0.0.1:9193).
    alert_webhook_url: str = ""
    #: How often Prometheus scrapes and evaluates the rules; an alert fires within its
    #: ``for:`` plus about this much.
    monitoring_interval_s: int = Field(default=5, ge=1, le=60)

    # --- read models -------------------------------------------------------
    search_index: str = "products"
    #: Events `eventcart verify` folds at once: a partition holding more is read once,
    #: its records spilled undecoded to one temporary file per slice of its SKUs (by a
    #: hash of the record key), each slice then folded in turn: memory stays bounded
    #: however long the log, for disk the size of the partition.
    verify_events_in_memory: int = Field(default=300_000, ge=10)
    pricing_schema: str = "pricing"

    # --- HTTP APIs -------------------------------------------------------
    api_token: SecretStr = SecretStr(DEFAULT_API_TOKEN)
    #: Address the HTTP APIs bind to; anything but loopback needs a token of your own.
    api_host: str = "127.0.0.1"
    command_api_port: int = 8001
    query_api_port: int = 8002
    #: Processes serving the query API, all on query_api_port, each with its own
    #: Elasticsearch client and PostgreSQL pool. Two: on 2 cores shared with
    #: Elasticsearch, a second process served 15-30% more searches than one (one
    #: process's threads queue for its interpreter lock; BENCHMARKS.md, "Search
    #: capacity"). Add one per two cores the stores leave free.
    query_api_workers: int = Field(default=2, ge=1, le=64)
    api_max_body_bytes: int = 64 * 1024
    #: Largest feed file ``POST /imports`` takes (streamed to disk under the home,
    #: never held in memory; the JSON body limit above does not apply to it).
    import_max_bytes: int = Field(default=10 * 1024**3, gt=0)

    # --- change subscriptions (``GET /changes`` on the query API) ---------------
    #: Changes each query API process keeps in memory for subscribers that resume
    #: (after a drop, or on a freshly started process, which reads the last ones back
    #: from the events topic); an older position is read back from Kafka.
    changes_buffer: int = Field(default=50_000, ge=100)
    #: How often, while events wait, the tail asks both read models how far they
    #: have applied (a change is sent only once both have).
    changes_poll_ms: int = Field(default=10, ge=1, le=1000)
    #: Seconds between keep-alive comments on an idle stream (proxies close silent ones).
    changes_heartbeat_s: float = Field(default=15.0, gt=0)
    #: A subscriber that has taken nothing for this long while changes wait for it (it
    #: does not read: its connection's buffers are full) is cut off, told the id to
    #: resume from.
    changes_stall_s: float = Field(default=10.0, gt=0)
    #: Changes waiting for one subscriber before it is cut off all the same: bounds
    #: what any client can cost (8 bytes each, the changes themselves being shared).
    changes_max_backlog: int = Field(default=50_000, ge=10)
    #: Subscribers one query API process holds; more get a 503.
    changes_max_subscribers: int = Field(default=15_000, ge=1)

    # --- web console (served by the query API) ----------------------------
    #: The command API the console's "change price" form forwards to; empty: the local
    #: one on 127.0.0.1:command_api_port.
    console_command_api_url: str = ""
    #: Bearer token the console sends to the command API. Unset (the default): the
    #: console is read-only and shows no form, like the query API it runs in.
    console_command_token: SecretStr | None = None
    #: Seconds the operations page watches committed offsets to measure events/s.
    console_status_sample_s: float = Field(default=1.0, gt=0, le=10)

    # --- tests -----------------------------------------------------------
    testcontainers: bool = False

    @model_validator(mode="after")
    def _every_broker_bootstraps(self) -> Settings:
        # A client told only the first broker could not start while that broker is
        # down; told all of them, it starts as long as one answers.
        if self.kafka_brokers > 1 and "," not in self.kafka_bootstrap_servers:
            host, _, _ = self.kafka_bootstrap_servers.rpartition(":")
            self.kafka_bootstrap_servers = ",".join(
                f"{host or '127.0.0.1'}:{self.kafka_broker_port(n)}"
                for n in range(1, self.kafka_brokers + 1)
            )
        return self

    @model_validator(mode="after")
    def _every_elasticsearch_node(self) -> Settings:
        # As for brokers: a client that knows every node survives the loss of one.
        if self.elasticsearch_nodes > 1 and "," not in self.elasticsearch_url:
            first = urlsplit(self.elasticsearch_url)
            self.elasticsearch_url = ",".join(
                f"{first.scheme}://{first.hostname or '127.0.0.1'}:{self.elasticsearch_node_port(n)}"
                for n in range(1, self.elasticsearch_nodes + 1)
            )
        return self

    @property
    def elasticsearch_hosts(self) -> list[str]:
        """The URLs clients are given (every node they may ask)."""
        return [url.strip() for url in self.elasticsearch_url.split(",") if url.strip()]

    def elasticsearch_node_port(self, node: int) -> int:
        """The HTTP port of node ``node`` (1-based) of the local stack."""
        first = urlsplit(self.elasticsearch_url.split(",")[0]).port or 9200
        return first + node - 1

    def elasticsearch_transport_port_of(self, node: int) -> int:
        return self.elasticsearch_transport_port + node - 1

    @model_validator(mode="after")
    def _one_elasticsearch_credential(self) -> Settings:
        if self.elasticsearch_api_key is not None and self.elasticsearch_username is not None:
            raise ValueError(
                "set EVENTCART_ELASTICSEARCH_API_KEY or EVENTCART_ELASTICSEARCH_USERNAME/"
                "PASSWORD, not both"
            )
        return self

    @property
    def kafka_port(self) -> int:
        return _port(self.kafka_bootstrap_servers.split(",")[0], 9092)

    def kafka_broker_port(self, node: int) -> int:
        """The client port of broker ``node`` (1-based) of the local stack."""
        return self.kafka_port + 2 * (node - 1)

    def kafka_controller_port_of(self, node: int) -> int:
        """The controller port of node ``node`` (1-based) of the local stack."""
        return self.kafka_controller_port + 2 * (node - 1)

    @property
    def console_command_url(self) -> str:
        """Where the console sends commands (the configured URL or the local command API)."""
        return (
            self.console_command_api_url.rstrip("/") or f"http://127.0.0.1:{self.command_api_port}"
        )

    @property
    def elasticsearch_port(self) -> int:
        return urlsplit(self.elasticsearch_url.split(",")[0]).port or 9200

    @property
    def postgres_port(self) -> int:
        return urlsplit(self.postgres_dsn.get_secret_value()).port or 5432

    @property
    def postgres_user(self) -> str:
        return urlsplit(self.postgres_dsn.get_secret_value()).username or "eventcart"

    @property
    def postgres_password(self) -> str:
        return urlsplit(self.postgres_dsn.get_secret_value()).password or ""

    @property
    def postgres_database(self) -> str:
        return urlsplit(self.postgres_dsn.get_secret_value()).path.lstrip("/") or "eventcart"


def _port(hostport: str, default: int) -> int:
    _, _, port = hostport.rpartition(":")
    return int(port) if port.isdigit() else default


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
