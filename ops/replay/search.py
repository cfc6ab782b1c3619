"""Rebuilding the search index beside the live one, and switching the alias to it.

Build: a new index ``<alias>_v<N+1>`` from the current mapping, in bulk mode
(no refresh, no replicas), behind a build alias ``<alias>-rebuild``, filled
from the start of the events topic by the same ``SearchSink`` as the live
projection. The sink records its position per partition, so an interrupted
build resumes where it stopped.

Switch: bulk mode off (refresh, replicas restored); the live projection is
paused (``read_models.search.switch``) so nothing is in flight; the new index
is caught up with what the live one had applied; then one ``_aliases`` request
moves the alias, the live position record is carried over, and the live
projection resumes, now writing into the new index. Queries go through the
alias, so they see the old index, complete, until the instant they see the
new one, complete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from elasticsearch import Elasticsearch

from ops.replay import reader
from read_models.search import client as es_client
from read_models.search import positions, switch
from read_models.search.index import (
    alias_target,
    bulk_mode,
    concrete_name,
    create_index,
    ensure_index,
)
from read_models.search.writer import SearchSink
from schemas.settings import Settings
from streams import event_log
from streams.batch_step import BatchStep

ROLE = "search-projection"  # whose dead-letter topic a rebuild's refusals go to
Progress = Callable[[event_log.Batch, int, int], None]


@dataclass(frozen=True)
class Plan:
    alias: str
    live_index: str
    live_version: int
    new_index: str
    build_alias: str
    start: dict[int, int]
    end: dict[int, int]
    resumed: bool

    @property
    def events(self) -> int:
        return sum(max(0, self.end[p] - self.start.get(p, 0)) for p in self.end)


def client(settings: Settings) -> Elasticsearch:
    return es_client.connect(settings, request_timeout=60, max_retries=3, retry_on_timeout=True)


def build_alias_of(alias: str) -> str:
    """The alias a rebuild writes through (its positions sit beside it)."""
    return f"{alias}-rebuild"


def version_of(index: str) -> int:
    return int(index.rsplit("_v", 1)[1])


def plan(settings: Settings) -> Plan:
    es = client(settings)
    alias = settings.search_index
    live_index = ensure_index(es, alias=alias)
    live_version = version_of(live_index)
    new_index = concrete_name(alias, live_version + 1)
    build_alias = build_alias_of(alias)
    resumed = bool(es.indices.exists(index=new_index))
    done = positions.applied(es, build_alias, fresh=True) if resumed else {}
    ends = event_log.end_offsets(settings)
    start = {p: max(low, done.get(p, -1) + 1) for p, (low, _) in ends.items()}
    es.close()
    return Plan(
        alias,
        live_index,
        live_version,
        new_index,
        build_alias,
        start,
        {p: high for p, (_, high) in ends.items()},
        resumed,
    )


def build(settings: Settings, the_plan: Plan, progress: Progress) -> tuple[int, int]:
    es = client(settings)
    create_index(es, the_plan.new_index)
    if alias_target(es, the_plan.build_alias) is None:
        es.indices.put_alias(index=the_plan.new_index, name=the_plan.build_alias)
    positions.ensure_positions_index(es, the_plan.build_alias)
    bulk_mode(es, the_plan.new_index, True)
    try:
        # A resumed build may hold documents already: read them back as the live sink does.
        sink = SearchSink(es, the_plan.build_alias, rebuild=not the_plan.resumed)
        step = BatchStep.for_role(ROLE, sink, settings)
        return reader.catch_up(settings, step, the_plan.start, the_plan.end, progress)
    finally:
        es.close()


def switch_over(settings: Settings, the_plan: Plan, progress: Progress) -> str:
    """Move the alias to the new index; returns the old index's name."""
    es = client(settings)
    alias, new = the_plan.alias, the_plan.new_index
    bulk_mode(es, new, False)
    switch.pause(es, alias)
    try:
        step = BatchStep.for_role(ROLE, SearchSink(es, the_plan.build_alias), settings)
        while True:
            live = positions.applied(es, alias, fresh=True)
            built = positions.applied(es, the_plan.build_alias, fresh=True)
            start = {p: built.get(p, -1) + 1 for p in the_plan.end}
            stop = {p: live[p] + 1 for p in the_plan.end if p in live}
            for batch in event_log.read(settings, start, stop):
                step.apply(batch)
                switch.renew(es, alias)
                progress(batch, 0, 0)
            # Paused again right before the move (the lease, and nothing in flight);
            # had the lease run out under a slow catch-up and live batches moved on,
            # catch up with them too.
            switch.pause(es, alias)
            if positions.applied(es, alias, fresh=True) == live:
                break
        es.indices.refresh(index=new)
        es.indices.update_aliases(
            actions=[
                {"remove": {"index": the_plan.live_index, "alias": alias}},
                {"add": {"index": new, "alias": alias}},
                {"remove": {"index": new, "alias": the_plan.build_alias}},
            ]
        )
        built = positions.applied(es, the_plan.build_alias, fresh=True)
        positions.record(
            es, alias, {p: max(built.get(p, -1), live.get(p, -1)) for p in the_plan.end}
        )
        es.options(ignore_status=404).indices.delete(
            index=positions.positions_index(the_plan.build_alias)
        )
    finally:
        switch.resume(es, alias)
        es.close()
    return the_plan.live_index


def old_versions(settings: Settings) -> list[str]:
    es = client(settings)
    alias = settings.search_index
    live = alias_target(es, alias)
    names = es.options(ignore_status=404).indices.get(index=f"{alias}_v*", expand_wildcards="open")
    es.close()
    return sorted(
        n
        for n in names
        if n != live
        and n.rsplit("_v", 1)[-1].isdigit()
        and (live is None or version_of(n) < version_of(live))
    )


def built_so_far(settings: Settings) -> dict[int, int]:
    """How far a rebuild has read the topic (partition -> last offset it applied): the
    progress a running replay shows beside its lock. Empty when no build is under way."""
    es = client(settings)
    try:
        return positions.applied(es, build_alias_of(settings.search_index))
    finally:
        es.close()


def drop_old(settings: Settings) -> list[str]:
    dropped = old_versions(settings)
    es = client(settings)
    for index in dropped:
        es.indices.delete(index=index)
    es.close()
    return dropped
