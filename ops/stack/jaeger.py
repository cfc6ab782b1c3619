"""Jaeger v1.75.0, built from its Go module, for `eventcart stack up --tracing`.

Jaeger publishes no Maven artifact and Debian packages none; its Go module is
on the Go module proxy. ``ops/stack/jaeger/go.mod`` pins it as a Go tool
(``go get -tool github.com/jaegertracing/jaeger/cmd/jaeger@v1.75.0``, with its
``go.sum``), and the first start builds the binary into the download cache
(a few minutes, once). It runs as one process keeping traces in memory:
OTLP/HTTP in on 127.0.0.1:4318, its query API on 127.0.0.1:16686. The UI's
assets are built by Jaeger's release process (npm), not part of the Go module:
this build serves a placeholder page there; the query API is complete.
Every listener is named on loopback in its configuration (its defaults would
listen on every interface for some).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from ops.stack import process
from ops.stack.errors import StackError
from ops.stack.service import Service

VERSION = "v1.75.0"
MODULE = Path(__file__).resolve().parent / "jaeger"
PACKAGE = "github.com/jaegertracing/jaeger/cmd/jaeger"


class Jaeger(Service):
    name = "jaeger"

    @property
    def port(self) -> int:
        return self.settings.jaeger_query_port

    @property
    def version(self) -> str:
        return VERSION

    @property
    def binary(self) -> Path:
        return self.settings.cache_dir / f"jaeger-{VERSION}" / "jaeger"

    def installed(self) -> bool:
        return self.binary.exists()

    def install(self) -> None:
        go = shutil.which("go")
        if go is None:
            raise StackError(self.name, "Jaeger is built from its Go module: install Go 1.24+")
        self.binary.parent.mkdir(parents=True, exist_ok=True)
        partial = self.binary.with_suffix(".partial")
        proc = subprocess.run(
            [go, "build", "-trimpath", "-o", str(partial), PACKAGE],
            cwd=MODULE,
            capture_output=True,
            text=True,
            check=False,
            env=dict(os.environ, CGO_ENABLED="0"),
        )
        if proc.returncode != 0:
            raise StackError(
                self.name, f"go build {PACKAGE} failed", (proc.stdout + proc.stderr)[-4000:]
            )
        partial.replace(self.binary)

    @property
    def config_file(self) -> Path:
        return self.home / "jaeger.json"

    def config(self) -> dict[str, object]:
        """The all-in-one pipeline (OTLP in, memory storage, query and UI), on loopback."""
        s = self.settings
        return {
            "service": {
                "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
                "pipelines": {
                    "traces": {
                        "receivers": ["otlp"],
                        "processors": ["batch"],
                        "exporters": ["jaeger_storage_exporter"],
                    }
                },
                "telemetry": {
                    "metrics": {"level": "none"},
                    "traces": {"level": "none"},
                    "logs": {"level": "warn"},
                },
            },
            "receivers": {
                "otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{s.jaeger_otlp_port}"}}}
            },
            "processors": {"batch": {}},
            "extensions": {
                "healthcheckv2": {
                    "use_v2": True,
                    "http": {"endpoint": f"127.0.0.1:{s.jaeger_query_port + 1}"},
                },
                "jaeger_storage": {"backends": {"memory": {"memory": {"max_traces": 100_000}}}},
                "jaeger_query": {
                    "storage": {"traces": "memory"},
                    # its own traces would go to OTLP on :4317, which nothing serves here
                    "enable_tracing": False,
                    "http": {"endpoint": f"127.0.0.1:{s.jaeger_query_port}"},
                    "grpc": {"endpoint": f"127.0.0.1:{s.jaeger_query_port - 1}"},
                },
            },
            "exporters": {"jaeger_storage_exporter": {"trace_storage": "memory"}},
        }

    def prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        # JSON is YAML: Jaeger reads it as its configuration file.
        self.config_file.write_text(json.dumps(self.config(), indent=2))

    def command(self) -> list[str]:
        return [str(self.binary), "--config", f"file:{self.config_file}"]

    def healthy(self) -> bool:
        return process.answers_http(f"http://127.0.0.1:{self.port}/api/services")
