"""The same two read models built with quixstreams, as a user who picks it would.

Runs in its own virtualenv (``.venv-peers``: quixstreams pins older
confluent-kafka and pydantic than eventcart does), with this repository on
PYTHONPATH for eventcart's pure fold only. A stateful quixstreams pipeline
folds each product's events (state in quixstreams' RocksDB store, keyed by
SKU) and hands the result to quixstreams' own sink, which flushes at every
checkpoint:

- search: ``ElasticsearchSink`` (document id = SKU; the sink has no version
  guard: it writes the last document it was given);
- pricing: ``PostgreSQLSink`` upserting one row per product (sku, version,
  status, stock, prices as JSON) on its primary key.

Usage: ``python quix_projection.py search|pricing`` with the environment
variables of the benchmark (QUIX_BROKER, QUIX_TOPIC, QUIX_GROUP, QUIX_ES_URL,
QUIX_INDEX, QUIX_PG_* ).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from quixstreams import Application, State

from read_models.search.document import project


def fold(event: dict[str, Any], state: State) -> dict[str, Any]:
    doc = project(state.get("doc"), event)
    state.set("doc", doc)
    return doc


def pricing_row(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "sku": doc["sku"],
        "version": doc["version"],
        "status": doc["status"],
        "stock": doc["stock"],
        "prices": json.dumps({c: p["amount_text"] for c, p in doc["prices"].items()}),
    }


def main(model: str) -> None:
    env = os.environ
    app = Application(
        broker_address=env["QUIX_BROKER"],
        consumer_group=env["QUIX_GROUP"],
        auto_offset_reset="earliest",
        state_dir=env["QUIX_STATE_DIR"],
        commit_interval=1.0,
    )
    events = app.topic(env["QUIX_TOPIC"], value_deserializer="json", key_deserializer="str")
    sdf = app.dataframe(events).apply(fold, stateful=True)
    if model == "search":
        from elasticsearch import Elasticsearch
        from quixstreams.sinks.community.elasticsearch import ElasticsearchSink

        class Sink(ElasticsearchSink):  # type: ignore[misc]
            """quixstreams' sink, less its ``GET /`` at start, which the minimal
            Elasticsearch distribution of the local stack does not serve."""

            def setup(self) -> None:
                self._client = Elasticsearch(**self._client_kwargs)
                self._create_index()

        sdf.sink(Sink(url=env["QUIX_ES_URL"], index=env["QUIX_INDEX"], batch_size=5000))
    else:
        from quixstreams.sinks.community.postgresql import PostgreSQLSink

        sdf = sdf.apply(pricing_row)
        sdf.sink(
            PostgreSQLSink(
                host=env["QUIX_PG_HOST"],
                port=int(env["QUIX_PG_PORT"]),
                dbname=env["QUIX_PG_DB"],
                user=env["QUIX_PG_USER"],
                password=env["QUIX_PG_PASSWORD"],
                table_name=env["QUIX_PG_TABLE"],
                schema_name=env["QUIX_PG_SCHEMA"],
                primary_key_columns=("sku",),
                upsert_on_primary_key=True,
                include_metadata=False,
            )
        )
    app.run()


if __name__ == "__main__":
    main(sys.argv[1])
