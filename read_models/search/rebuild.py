"""Rebuilding the search index beside the live one, and switching the alias to it.

Build: a new index ``<alias>_v<N+1>`` from the current mapping, in bulk mode (no
refresh, no replicas), behind a build alias ``<alias>-rebuild``, written by the
same ``SearchSink`` as the live projection. The sink records its position per
partition, so an interrupted build resumes where it stopped.

Switch: bulk mode off (refresh, replicas restored); the live projection is
paused (:mod:`read_models.search.switch`) so nothing is in flight; the new
index is caught up with what the live one had applied; then one ``_aliases``
request moves the alias, the live position record is carried over, and the
live projection resumes, now writing into the new index. Queries go through the
alias, so they see the old index, complete, until the instant they see the new
one, complete.

The events are driven by the caller (:mod:`streams.rebuild`): this module does
the index work only.
"""

from __future__ import annotations

from collections.abc import Mapping

from elasticsearch import Elasticsearch

from read_models.projection import Sink
from read_models.read_model import Feed, RebuildPlan
from read_models.search import client as es_client
from read_models.search import positions, switch
from read_models.search.index import (
    alias_target,
    bulk_mode,
    concrete_name,
    create_index,
    ensure_index,
)
from read_models.search.sink import SearchSink
from schemas.config.settings import Settings

__all__ = ["SearchRebuild", "build_alias_of"]


def _client(settings: Settings) -> Elasticsearch:
    return es_client.connect(settings, request_timeout=60, max_retries=3, retry_on_timeout=True)


def build_alias_of(alias: str) -> str:
    """The alias a rebuild writes through (its positions sit beside it)."""
    return f"{alias}-rebuild"


def _version_of(index: str) -> int:
    return int(index.rsplit("_v", 1)[1])


class SearchRebuild:
    """The search index's side of ``eventcart replay search``."""

    def plan(self, settings: Settings, ends: Mapping[int, tuple[int, int]]) -> RebuildPlan:
        es = _client(settings)
        try:
            alias = settings.search_index
            live = ensure_index(es, alias=alias)
            new = concrete_name(alias, _version_of(live) + 1)
            resumed = bool(es.indices.exists(index=new))
            done = positions.applied(es, build_alias_of(alias), fresh=True) if resumed else {}
        finally:
            es.close()
        start = {p: max(low, done.get(p, -1) + 1) for p, (low, _) in ends.items()}
        end = {p: high for p, (_, high) in ends.items()}
        return RebuildPlan(live, _version_of(live), new, start, end, resumed)

    def open_build(self, settings: Settings, plan: RebuildPlan) -> Sink:
        es = _client(settings)
        build_alias = build_alias_of(settings.search_index)
        create_index(es, plan.new)
        if alias_target(es, build_alias) is None:
            es.indices.put_alias(index=plan.new, name=build_alias)
        positions.ensure_positions_index(es, build_alias)
        bulk_mode(es, plan.new, True)
        # A resumed build may hold documents already: read them back as the live sink does.
        return SearchSink(es, build_alias, rebuild=not plan.resumed, owns_client=True)

    def close_build(self, settings: Settings, plan: RebuildPlan, sink: Sink) -> None:
        sink.close()

    def switch(self, settings: Settings, plan: RebuildPlan, feed: Feed) -> str:
        es = _client(settings)
        alias, build_alias = settings.search_index, build_alias_of(settings.search_index)
        bulk_mode(es, plan.new, False)
        switch.pause(es, alias)
        try:
            while True:
                live = positions.applied(es, alias, fresh=True)
                built = positions.applied(es, build_alias, fresh=True)
                start = {p: built.get(p, -1) + 1 for p in plan.end}
                stop = {p: live[p] + 1 for p in plan.end if p in live}
                # the live projection stays paused while this runs
                feed(SearchSink(es, build_alias), start, stop, lambda: switch.renew(es, alias))
                # Paused again right before the move (the lease, and nothing in flight);
                # had the lease run out under a slow catch-up and live batches moved on,
                # catch up with them too.
                switch.pause(es, alias)
                if positions.applied(es, alias, fresh=True) == live:
                    break
            es.indices.refresh(index=plan.new)
            es.indices.update_aliases(
                actions=[
                    {"remove": {"index": plan.live, "alias": alias}},
                    {"add": {"index": plan.new, "alias": alias}},
                    {"remove": {"index": plan.new, "alias": build_alias}},
                ]
            )
            built = positions.applied(es, build_alias, fresh=True)
            positions.record(
                es, alias, {p: max(built.get(p, -1), live.get(p, -1)) for p in plan.end}
            )
            es.options(ignore_status=404).indices.delete(
                index=positions.positions_index(build_alias)
            )
        finally:
            switch.resume(es, alias)
            es.close()
        return plan.live

    def old_versions(self, settings: Settings) -> list[str]:
        es = _client(settings)
        try:
            alias = settings.search_index
            live = alias_target(es, alias)
            names = es.options(ignore_status=404).indices.get(
                index=f"{alias}_v*", expand_wildcards="open"
            )
        finally:
            es.close()
        return sorted(
            n
            for n in names
            if n != live
            and n.rsplit("_v", 1)[-1].isdigit()
            and (live is None or _version_of(n) < _version_of(live))
        )

    def drop_old(self, settings: Settings) -> list[str]:
        dropped = self.old_versions(settings)
        es = _client(settings)
        try:
            for index in dropped:
                es.indices.delete(index=index)
        finally:
            es.close()
        return dropped

    def built_so_far(self, settings: Settings) -> dict[int, int]:
        es = _client(settings)
        try:
            return positions.applied(es, build_alias_of(settings.search_index))
        finally:
            es.close()
