"""`eventcart topics list` reads the topic specs only: no broker needed."""

from __future__ import annotations

from typer.testing import CliRunner

from ops.cli import app


def test_every_topic_says_how_long_it_is_kept() -> None:
    result = CliRunner().invoke(app, ["topics", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    kept = {
        line.split()[0]: line.split("kept")[1].split()[0] for line in result.output.splitlines()
    }
    assert kept["eventcart.product.events"] == "forever"
    assert kept["eventcart.catalog.commands"] == "7"
    assert kept["eventcart-command-processor-catalog-changelog"] == "latest"
