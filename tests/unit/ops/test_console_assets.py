"""The console's assets: every vendored file is the pinned one, every file it serves is
package data, and every asset a page asks for is in the package (it works offline)."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

from ops.console import app

ROOT = Path(__file__).resolve().parents[3]
CONSOLE = ROOT / "ops" / "console"
VENDOR = CONSOLE / "static" / "vendor"


def test_vendored_files_match_their_pinned_checksums_and_have_a_licence() -> None:
    table = (VENDOR / "README.md").read_text()
    rows = re.findall(
        r"^\| `([^`]+\.js)` \| `([^`]+)@([^`]+)`.*\| `([0-9a-f]{64})` \|$", table, re.M
    )
    assert {name for name, *_ in rows} == {p.name for p in VENDOR.glob("*.js")}
    for name, _package, version, digest in rows:
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
        assert version in name
        assert list(VENDOR.glob(f"{name.split('.umd')[0].removesuffix('.min.js')}.LICENSE*")), name


def test_every_served_file_is_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["ops"]
    served = [
        p
        for folder in ("templates", "static")
        for p in (CONSOLE / folder).rglob("*")
        if p.is_file()
    ]
    assert served
    for path in served:
        relative = path.relative_to(ROOT / "ops")
        assert any(relative.match(pattern) for pattern in patterns), relative


def test_pages_load_only_assets_the_package_holds() -> None:
    for template in (CONSOLE / "templates").glob("*.html"):
        text = template.read_text()
        for link in re.findall(r'(?:src|href)="([^"]*)"', text):
            assert not link.startswith(("http:", "https:", "//")), (template.name, link)
        for asset in re.findall(r'(?:src|href)="/static/([^"]+)"', text):
            assert (CONSOLE / "static" / asset).is_file(), asset
    assert "default-src 'self'" in app.CSP
