"""Elasticsearch 9 from Maven Central's minimal distribution zip (integ-test-zip).

That zip has no bundled JDK (we pick a JDK 21+) and fewer modules than the
official image (no analysis-common, no painless): the search mapping asks the
cluster what it has instead of assuming. It refuses to run as root, so under
root it runs as the service account.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from elasticsearch import ApiError, TransportError
from elasticsearch import Elasticsearch as ESClient

from ops.stack import maven, process, tls
from ops.stack.errors import StackError
from ops.stack.java import find_java, has_module
from ops.stack.service import Service
from schemas.config.connections import elasticsearch_options
from schemas.config.settings import Settings


def extract_zip(archive: Path, target: Path) -> None:
    """Unzip keeping the executable bits, which zipfile drops on its own."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            extracted = Path(zf.extract(info, target))
            mode = info.external_attr >> 16
            if mode and not info.is_dir():
                extracted.chmod(mode & 0o777)


class Elasticsearch(Service):
    """One node: alone (``discovery.type: single-node``), or node ``node`` of a cluster
    of ``EVENTCART_ELASTICSEARCH_NODES`` on loopback, each with its own folder."""

    runs_as_service_account = True

    def __init__(self, settings: Settings, node: int = 1) -> None:
        super().__init__(settings)
        self.node = node
        self.clustered = settings.elasticsearch_nodes > 1
        self.name = f"elasticsearch-{node}" if self.clustered else "elasticsearch"

    @property
    def port(self) -> int:
        return self.settings.elasticsearch_node_port(self.node)

    @property
    def version(self) -> str:
        return self.settings.elasticsearch_version

    @property
    def es_home(self) -> Path:
        return self.settings.cache_dir / f"elasticsearch-{self.version}"

    @property
    def config_dir(self) -> Path:
        return self.home / "config"

    def installed(self) -> bool:
        return (self.es_home / "bin" / "elasticsearch").exists()

    def install(self) -> None:
        downloads = self.settings.cache_dir / "downloads"
        archive = maven.fetch_artifact(
            self.name,
            f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{self.version}:zip",
            downloads,
        )
        staging = self.settings.cache_dir / f".elasticsearch-{self.version}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        extract_zip(archive, staging)
        shutil.rmtree(self.es_home, ignore_errors=True)
        shutil.move(str(staging / f"elasticsearch-{self.version}"), self.es_home)
        shutil.rmtree(staging, ignore_errors=True)
        if self.account is not None:
            # The service account reads the distribution from the cache.
            process.make_traversable(self.es_home)

    def prepare(self) -> None:
        if not self.config_dir.exists():
            shutil.copytree(self.es_home / "config", self.config_dir)
        for sub in ("data", "logs", "tmp"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        (self.config_dir / "elasticsearch.yml").write_text(
            "\n".join(
                [
                    "cluster.name: eventcart",
                    f"node.name: eventcart-{self.node}",
                    f"path.data: {self.data_dir}",
                    f"path.logs: {self.home / 'logs'}",
                    "network.host: 127.0.0.1",
                    f"http.port: {self.port}",
                    *self._discovery(),
                    *self._security(),
                    "action.destructive_requires_name: true",
                    "",
                ]
            )
        )
        if self.settings.stack_secure:
            self._add_user()
        # A trimmed JDK (the PyPI wheel) lacks the vector incubator module that
        # jvm.options adds for Lucene's SIMD code; Elasticsearch runs without it.
        java = find_java(self.name, 21, self.settings.java_home)
        jvm_options = self.config_dir / "jvm.options"
        text = jvm_options.read_text()
        vector = "20-:--add-modules=jdk.incubator.vector"
        disabled = f"# {vector}  (not in this JDK)"
        if has_module(java, "jdk.incubator.vector"):
            text = text.replace(disabled, vector)
        else:
            text = text.replace(f"\n{vector}", f"\n{disabled}")
        jvm_options.write_text(text)
        heap = self.settings.elasticsearch_heap
        options = self.config_dir / "jvm.options.d"
        options.mkdir(exist_ok=True)
        (options / "eventcart.options").write_text(f"-Xms{heap}\n-Xmx{heap}\n")

    def _discovery(self) -> list[str]:
        """Alone, or the cluster's nodes finding each other on their transport ports;
        the first start elects a master among all of them (later starts ignore it)."""
        if not self.clustered:
            return ["transport.port: 0", "discovery.type: single-node"]
        nodes = range(1, self.settings.elasticsearch_nodes + 1)
        seeds = ", ".join(
            f"127.0.0.1:{self.settings.elasticsearch_transport_port_of(n)}" for n in nodes
        )
        masters = ", ".join(f"eventcart-{n}" for n in nodes)
        return [
            f"transport.port: {self.settings.elasticsearch_transport_port_of(self.node)}",
            f"discovery.seed_hosts: [{seeds}]",
            f"cluster.initial_master_nodes: [{masters}]",
        ]

    def _security(self) -> list[str]:
        """Security off on the default loopback node; in the secured stack on, with
        TLS on HTTP (the stack's certificate, copied into the config folder, the
        only place Elasticsearch may read it from) and the file realm's user."""
        if not self.settings.stack_secure:
            return ["xpack.security.enabled: false"]
        tls.Certificates(self.settings.home / "tls").copy_to(self.config_dir / "tls")
        return [
            "xpack.security.enabled: true",
            "xpack.security.http.ssl.enabled: true",
            "xpack.security.http.ssl.key: tls/server.key",
            "xpack.security.http.ssl.certificate: tls/server.crt",
            "xpack.security.http.ssl.certificate_authorities: [tls/ca.crt]",
            *self._transport_tls(),
        ]

    def _transport_tls(self) -> list[str]:
        """A cluster's nodes talk over TLS too (Elasticsearch requires it with security
        on); one node has no node-to-node traffic to protect."""
        if not self.clustered:
            return ["xpack.security.transport.ssl.enabled: false"]
        return [
            "xpack.security.transport.ssl.enabled: true",
            "xpack.security.transport.ssl.verification_mode: certificate",
            "xpack.security.transport.ssl.key: tls/server.key",
            "xpack.security.transport.ssl.certificate: tls/server.crt",
            "xpack.security.transport.ssl.certificate_authorities: [tls/ca.crt]",
        ]

    def _add_user(self) -> None:
        """The client user in the file realm (``config/users``), with the superuser role
        (the stack's administrator), its password set on every start."""
        s = self.settings
        password = s.elasticsearch_password.get_secret_value() if s.elasticsearch_password else ""
        self.set_user(s.elasticsearch_username or "eventcart", password, "superuser")

    def set_user(self, name: str, password: str, role: str) -> None:
        """A file-realm user with ``role`` and ``password`` (set again if it exists).

        The file realm because the minimal distribution has no native realm (its
        ``.security`` index needs the missing ``analysis-common`` module); the node
        reloads the files within seconds, no restart.
        """
        users = self.config_dir / "users"
        exists = users.exists() and any(
            line.split(":", 1)[0] == name for line in users.read_text().splitlines()
        )
        tool = str(self.es_home / "bin" / "elasticsearch-users")
        args = [tool, "passwd", name] if exists else [tool, "useradd", name, "-r", role]
        proc = subprocess.run(
            args,
            input=f"{password}\n{password}\n",  # asked twice; never on the command line
            env=self.environment(),
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise StackError(
                self.name, f"setting the user {name} failed", (proc.stdout + proc.stderr)[-4000:]
            )

    def set_roles(self, roles: dict[str, dict[str, Any]]) -> None:
        """File-realm roles (``config/roles.yml``), each role's index patterns added to
        those it had: several deployments (topic prefixes, index names) share one
        stack, and a grant for one must not take away another's."""
        held_file = self.config_dir / "eventcart-roles.json"
        held: dict[str, dict[str, Any]] = (
            json.loads(held_file.read_text()) if held_file.exists() else {}
        )
        for name, body in roles.items():
            before = held.get(name, {}).get("indices", [{}])[0].get("names", [])
            names = sorted({*before, *body["indices"][0]["names"]})
            held[name] = {**body, "indices": [{**body["indices"][0], "names": names}]}
        held_file.write_text(json.dumps(held, indent=2) + "\n")
        (self.config_dir / "roles.yml").write_text(_roles_yaml(held))

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env.update(
            ES_JAVA_HOME=str(find_java(self.name, 21, self.settings.java_home)),
            ES_PATH_CONF=str(self.config_dir),
            ES_TMPDIR=str(self.home / "tmp"),
            HOME=str(self.home),
        )
        env.pop("JAVA_HOME", None)
        env.pop("ES_JAVA_OPTS", None)
        return env

    def command(self) -> list[str]:
        return [str(self.es_home / "bin" / "elasticsearch")]

    def _get(self, path: str) -> dict[str, object] | None:
        """GET on this node with the clients' own options (credentials, CA), or None."""
        options = elasticsearch_options(self.settings)
        scheme = urlsplit(self.settings.elasticsearch_hosts[0]).scheme
        options["hosts"] = f"{scheme}://127.0.0.1:{self.port}"
        client = ESClient(**options, request_timeout=3, max_retries=0)
        try:
            body: dict[str, object] = client.perform_request("GET", path).body
            return body
        except (ApiError, TransportError):
            return None
        finally:
            client.close()

    def healthy(self) -> bool:
        health = self._get("/_cluster/health")
        return health is not None and health.get("status") in ("green", "yellow")

    def running_version(self) -> str:
        nodes = self._get("/_nodes/_local?filter_path=nodes.*.version")
        found = nodes.get("nodes") if nodes else None
        if isinstance(found, dict):
            for node in found.values():
                return str(node.get("version", self.version))
        return self.version


def _roles_yaml(roles: dict[str, dict[str, Any]]) -> str:
    """``roles.yml`` in block style, one role per top-level key: the file realm splits
    the file into roles by its top-level lines, so a JSON document (valid YAML) is
    refused. Lists are JSON arrays, which are YAML flow sequences."""
    lines = ["# Written by eventcart (ops/stack/principals.py); rewritten on each grant."]
    for name, body in roles.items():
        lines += [f"{name}:", f"  cluster: {json.dumps(body['cluster'])}", "  indices:"]
        for grant in body["indices"]:
            lines += [
                f"    - names: {json.dumps(grant['names'])}",
                f"      privileges: {json.dumps(grant['privileges'])}",
            ]
    return "\n".join(lines) + "\n"
