"""What the search capacity benchmark sends, and the load generator that sends it.

A storefront's traffic, as a mix of kinds: free text as people type it (typos
included, facets and highlights on, as the console asks), text with filters,
category browsing sorted by price, deeper pages, autocomplete and price lookups.
Each request exists in up to three forms: through the query API, the same body
straight to Elasticsearch (the store's ceiling for our own query), and the
simplest query a team would write (one ``multi_match``, no facets, no highlight).

The load is run by ``loadgen`` (Go, standard library only, built on first use):
a Python client would take a large share of a 2-core machine at a few hundred
requests a second.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from read_models.search.models import SearchRequest
from read_models.search.query_body import TEXT_FIELDS, build_query
from tests.fixtures.relevance.corpus import BRANDS, COLOURS, KINDS, MODELS, sku_of
from tests.fixtures.relevance.judged import JUDGED
from tests.fixtures.relevance.previous_query import previous_body

__all__ = ["LOADGEN_SOURCE", "Request", "build_loadgen", "mix", "run_load"]

LOADGEN_SOURCE = Path(__file__).parent / "loadgen"

#: Share of each kind in the mix (a storefront's: mostly text, then autocomplete).
KIND_WEIGHTS = {
    "text": 45,
    "text+filters": 15,
    "browse": 8,
    "page": 5,
    "suggest": 17,
    "prices": 10,
}
TEXT_KINDS = ("text", "text+filters", "page")


@dataclass(frozen=True)
class Request:
    kind: str
    params: dict[str, Any]  # the query API's parameters (search kinds and suggest)
    sku: str | None = None  # prices


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1 :] if rng.random() < 0.5 else word[:i] + word[i] + word[i:]


def _text(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.35:
        return rng.choice(JUDGED).query
    kind = rng.choice(KINDS).name
    if roll < 0.6:
        return f"{rng.choice(COLOURS)} {kind}"
    if roll < 0.75:
        return " ".join(_typo(word, rng) for word in f"{rng.choice(COLOURS)} {kind}".split())
    if roll < 0.9:
        return f"{rng.choice(list(BRANDS)).lower()} {kind}"
    return f"{rng.choice(MODELS).lower()} {kind.split()[-1]}"


def _one(kind: str, rng: random.Random, priced: int) -> Request:
    if kind == "text":
        return Request(kind, {"q": _text(rng), "size": 20})
    if kind == "text+filters":
        params: dict[str, Any] = {"q": _text(rng), "size": 20}
        choice = rng.random()
        if choice < 0.3:
            params["brand"] = rng.choice(list(BRANDS))
        elif choice < 0.6:
            params["max_price"] = str(rng.choice([25, 50, 100, 200]))
        elif choice < 0.8:
            params["in_stock"] = "true"
        else:
            params["category"] = "/".join(rng.choice(KINDS).category)
        return Request(kind, params)
    if kind == "browse":
        category = "/".join(rng.choice(KINDS).category[: rng.choice([1, 2])])
        sort = rng.choice(["price_asc", "price_desc", "newest"])
        return Request(kind, {"category": category, "sort": sort, "size": 20})
    if kind == "page":
        return Request(kind, {"q": _text(rng), "size": 20, "page": rng.choice([2, 3, 5])})
    if kind == "suggest":
        word = rng.choice([*BRANDS, *MODELS, *(k.name for k in KINDS)])
        return Request(kind, {"prefix": word[: rng.randint(2, 6)].lower(), "size": 10})
    return Request(kind, {}, sku=sku_of(rng.randrange(priced)))


def mix(
    n: int, *, priced: int, seed: int = 17, kinds: Sequence[str] | None = None
) -> list[Request]:
    """``n`` requests in the shares of :data:`KIND_WEIGHTS` (only ``kinds`` if given);
    price lookups ask for the first ``priced`` SKUs."""
    rng = random.Random(seed)
    weights = {k: w for k, w in KIND_WEIGHTS.items() if kinds is None or k in kinds}
    names, shares = list(weights), list(weights.values())
    return [_one(rng.choices(names, shares)[0], rng, priced) for _ in range(n)]


def _search_request(params: dict[str, Any]) -> SearchRequest:
    as_model = dict(params)
    if "brand" in as_model:
        as_model["brand"] = [as_model["brand"]]
    return SearchRequest.model_validate(as_model)


def _suggest_body(params: dict[str, Any]) -> dict[str, Any]:
    completion = {"field": "suggest", "size": params["size"], "skip_duplicates": True}
    return {
        "_source": False,
        "suggest": {"products": {"prefix": params["prefix"], "completion": completion}},
    }


def simplest_body(q: str) -> dict[str, Any]:
    """The query a team would write first: one multi_match, no facets, no highlight."""
    return {"query": {"multi_match": {"query": q, "fields": list(TEXT_FIELDS)}}, "size": 20}


def lines(
    requests: Sequence[Request], form: str, *, api: str, elasticsearch: str, alias: str
) -> list[dict[str, Any]]:
    """The loadgen lines of ``requests`` in one form: ``api``, ``same`` (our bodies
    straight to Elasticsearch), ``simplest`` or ``previous`` (the query before it
    was rebuilt for capacity). Kinds a form has no equivalent for are left out."""
    search_url = f"{elasticsearch}/{alias}/_search"
    cached_url = f"{search_url}?request_cache=true"
    out: list[dict[str, Any]] = []
    for r in requests:
        if form == "api":
            if r.kind == "prices":
                out.append({"kind": r.kind, "method": "GET", "url": f"{api}/prices/{r.sku}"})
            else:
                path = "suggest" if r.kind == "suggest" else "search"
                url = f"{api}/{path}?{urlencode(r.params, doseq=True)}"
                out.append({"kind": r.kind, "method": "GET", "url": url})
            continue
        if r.kind == "prices":
            continue
        if r.kind == "suggest":
            if form == "same":
                body = _suggest_body(r.params)
                out.append({"kind": r.kind, "method": "POST", "url": search_url, "body": body})
            continue
        req = _search_request(r.params)
        if form == "same":
            # as the API sends it: with the shard request cache
            body = build_query(req)
            out.append({"kind": r.kind, "method": "POST", "url": cached_url, "body": body})
            continue
        elif form == "previous":
            body = previous_body(req)
        elif form == "simplest" and req.q is not None:
            body = simplest_body(req.q)
        else:
            continue
        out.append({"kind": r.kind, "method": "POST", "url": search_url, "body": body})
    return out


def build_loadgen(into: Path, source: Path = LOADGEN_SOURCE) -> Path:
    """Build ``loadgen`` (or another of the benchmarks' Go programs, by its folder) with
    the machine's Go (standard library only: nothing fetched)."""
    go = shutil.which("go")
    if go is None:
        raise FileNotFoundError("go is not installed: the load generator is written in Go")
    binary = into / source.name
    subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=source,
        check=True,
        capture_output=True,
        env={**_go_env(into)},
    )
    return binary


def _go_env(into: Path) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.setdefault("GOCACHE", str(into / "gocache"))
    env["GOFLAGS"] = "-mod=mod"
    return env


def run_load(
    loadgen: Path, request_lines: list[dict[str, Any]], concurrency: int, seconds: float, work: Path
) -> dict[str, Any]:
    """One closed-loop run: ``concurrency`` clients for ``seconds`` after a 3 s warm-up,
    each request of the list sent at most once (so a faster form does not see its own
    repeats more often: the request cache's hits come from the list alone)."""
    path = work / f"requests-{len(request_lines)}-{abs(hash(json.dumps(request_lines[:3])))}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in request_lines))
    done = subprocess.run(
        [
            str(loadgen),
            "-requests",
            str(path),
            "-c",
            str(concurrency),
            "-d",
            f"{seconds}s",
            "-once",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return report
