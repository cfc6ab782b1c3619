"""A private certificate authority and one server certificate for the secured local stack.

Made with the ``openssl`` command (present wherever Debian's PostgreSQL is),
so no Python crypto package is needed: the CA signs one certificate for
``localhost`` and ``127.0.0.1`` that Kafka, Elasticsearch and PostgreSQL all
present, and clients verify the host name against it (libpq's
``sslmode=verify-full``, librdkafka's and elasticsearch-py's defaults). Made
once per stack home; the CA's key never leaves it.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ops.stack.errors import StackError

_DAYS = "825"  # the longest validity clients accept for a server certificate
_SERVER_EXTENSIONS = "\n".join(
    [
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "extendedKeyUsage=serverAuth",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "basicConstraints=CA:FALSE",
        "",
    ]
)


@dataclass(frozen=True)
class Certificates:
    """Where the PEM files are: the CA clients trust, the servers' key and certificate."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def certificate(self) -> Path:
        return self.folder / "server.crt"

    @property
    def key(self) -> Path:
        """Unencrypted PKCS#8, the form all three servers read."""
        return self.folder / "server.key"

    def exist(self) -> bool:
        return all(p.exists() for p in (self.ca, self.certificate, self.key))

    def copy_to(self, folder: Path) -> Certificates:
        """The CA, key and certificate copied into a server's own folder (Elasticsearch
        reads them only from its config folder; PostgreSQL wants its key private)."""
        folder.mkdir(parents=True, exist_ok=True)
        for source in (self.ca, self.certificate, self.key):
            shutil.copyfile(source, folder / source.name)
        (folder / self.key.name).chmod(0o600)
        return Certificates(folder)


def ensure(folder: Path) -> Certificates:
    """The stack's CA and server certificate in ``folder``, made on first use."""
    certs = Certificates(folder)
    if certs.exist():
        return certs
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    csr, extensions = folder / "server.csr", folder / "server.ext"
    extensions.write_text(_SERVER_EXTENSIONS)
    ca_req = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", _DAYS]
    ca_req += ["-keyout", str(certs.ca_key), "-out", str(certs.ca)]
    ca_req += ["-subj", "/CN=eventcart local stack CA"]
    ca_req += ["-addext", "basicConstraints=critical,CA:TRUE"]
    ca_req += ["-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    server_req = ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost"]
    server_req += ["-keyout", str(certs.key), "-out", str(csr)]
    sign = ["x509", "-req", "-in", str(csr), "-CA", str(certs.ca), "-CAkey", str(certs.ca_key)]
    sign += ["-CAcreateserial", "-days", _DAYS, "-extfile", str(extensions)]
    sign += ["-out", str(certs.certificate)]
    steps = [ca_req, server_req, sign]
    for args in steps:
        proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise StackError("tls", f"`openssl {args[0]}` failed", proc.stderr[-2000:])
    csr.unlink()
    certs.key.chmod(0o600)
    certs.ca_key.chmod(0o600)
    return certs
