"""Fetching the JVM services from Maven Central with the ordinary Maven client.

Maven resolves Kafka's runtime classpath (dozens of jars) exactly as Kafka's own
build declares it, and keeps its local repository as a download cache, so a
second install on the same machine downloads nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ops.stack.errors import StackError

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>eventcart</groupId>
  <artifactId>{name}-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{dependencies}
  </dependencies>
</project>
"""


def _mvn(service: str) -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            service, "Maven (`mvn`) is needed to fetch it from Maven Central: apt-get install maven"
        )
    return mvn


def _run(service: str, args: list[str], cwd: Path) -> None:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip().splitlines()
        raise StackError(
            service,
            "download from Maven Central failed (is the registry reachable? "
            f"`{' '.join(args[:3])} ...` exited {proc.returncode})",
            "\n".join(line for line in output if "ERROR" in line)[-4000:]
            or "\n".join(output[-30:]),
        )


def copy_runtime_classpath(service: str, artifacts: list[str], target: Path) -> None:
    """Copy the artifacts' runtime dependency closure (jars) into target."""
    deps = "\n".join(
        "    <dependency><groupId>{}</groupId><artifactId>{}</artifactId>"
        "<version>{}</version></dependency>".format(*coordinate.split(":"))
        for coordinate in artifacts
    )
    with tempfile.TemporaryDirectory(prefix="eventcart-mvn-") as tmp:
        Path(tmp, "pom.xml").write_text(_POM.format(name=service, dependencies=deps))
        staging = Path(tmp, "libs")
        _run(
            service,
            [
                _mvn(service),
                "-B",
                "-q",
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={staging}",
            ],
            Path(tmp),
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(staging), target)


def fetch_artifact(service: str, coordinate: str, target_dir: Path) -> Path:
    """Fetch one artifact (group:artifact:version:type) into target_dir; returns its path."""
    with tempfile.TemporaryDirectory(prefix="eventcart-mvn-") as tmp:
        _run(
            service,
            [
                _mvn(service),
                "-B",
                "-q",
                "dependency:copy",
                f"-Dartifact={coordinate}",
                f"-DoutputDirectory={target_dir}",
            ],
            Path(tmp),
        )
    _, artifact, version, kind = coordinate.split(":")
    return target_dir / f"{artifact}-{version}.{kind}"
