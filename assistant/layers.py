"""Small writes as layers: a generation may hold only what changed since a full one.

Copying a whole generation for every write made adding one small file to a 100,000-chunk library cost
half a gigabyte of copying and a full BM25 rebuild. A write that changes little now makes a *layer*: a
generation whose ``chroma/`` and ``bm25/`` hold only the chunks of the sources added or changed since its
*base* (the last full generation, which no writer changes again), and whose ``LAYER.json`` names the base,
the base's sources that no longer count (``dead``: removed or changed since) and the sources it holds itself.
Answers read the base less its dead sources plus the layer. When the layer grows past a share of the base,
the next write folds everything into a new full generation (the old copy-and-apply write) and layers start
again from it. Layers live only in the embedded store: a Chroma server is written in place already.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import store
from .models import Source

LAYER = store.LAYER
SHARE = 0.1  # a layer may grow to the ``layer_chunks`` setting or to this share of its base, whichever is more


@dataclass(frozen=True)
class Layer:
    """What a layer generation holds beside its base."""

    base: str  # the full generation's folder name
    dead: frozenset[str] = frozenset()  # base sources whose chunks no longer count
    dead_chunks: int = 0  # how many chunks those are
    own: frozenset[str] = frozenset()  # sources whose chunks this layer holds
    base_chunks: int = 0  # chunks in the base (its dead ones included)

    def to_json(self) -> str:
        """The layer record as stored."""
        return json.dumps({"base": self.base, "dead": sorted(self.dead), "dead_chunks": self.dead_chunks,
                           "own": sorted(self.own), "base_chunks": self.base_chunks}, ensure_ascii=False)


def read(gen: Path | None) -> Layer | None:
    """The layer record of a generation (None for a full generation)."""
    if gen is None:
        return None
    try:
        d = json.loads((gen / LAYER).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return Layer(base=str(d["base"]), dead=frozenset(d.get("dead", ())), dead_chunks=int(d.get("dead_chunks", 0)),
                 own=frozenset(d.get("own", ())), base_chunks=int(d.get("base_chunks", 0)))


@dataclass
class Plan:
    """How a write will be stored: as a layer over ``base`` (with its record), or as a full generation."""

    layered: bool
    layer: Layer | None = None
    drop_from_layer: set[str] = field(default_factory=set)  # sources to delete from the copied layer's chunks


def plan(live: Path | None, known: dict[str, Source], gone: set[str], new: list[Source], settings: Any) -> Plan:
    """Choose between a layer and a full generation for a write that drops ``gone`` and (re)indexes ``new``."""
    if live is None or settings.chroma_host or settings.layer_chunks <= 0:
        return Plan(False)
    # the live generation's own sources are its base's, less the dead, plus the layer's (a changed base source
    # is dead in the base and held by the layer): what ``gone`` kills in the base is known without reading it
    layer = read(live) or Layer(base=live.name, base_chunks=sum(s.chunks for s in known.values()))
    in_layer = gone & layer.own
    newly_dead = {s for s in gone if s in known and s not in layer.own}
    dead = layer.dead | newly_dead
    dead_chunks = layer.dead_chunks + sum(known[s].chunks for s in newly_dead)
    own = (layer.own - gone) | {s.source_id for s in new}
    kept_chunks = sum(known[s].chunks for s in layer.own - gone if s in known)
    chars_per_chunk = _chars_per_chunk(known)
    estimate = kept_chunks + sum(len(s.text) for s in new) / chars_per_chunk
    if dead_chunks + estimate > max(settings.layer_chunks, SHARE * layer.base_chunks):
        return Plan(False)
    return Plan(True, Layer(layer.base, frozenset(dead), dead_chunks, frozenset(own), layer.base_chunks), in_layer)


def _chars_per_chunk(sources: dict[str, Source]) -> float:
    chunks = sum(s.chunks for s in sources.values())
    return max(50.0, sum(len(s.text) for s in sources.values()) / chunks) if chunks else 300.0


def write(gen: Path, layer: Layer) -> None:
    """Store a working generation's layer record."""
    (gen / LAYER).write_text(layer.to_json(), encoding="utf-8")


def chunk_count(gen: Path, settings: Any) -> int:
    """Chunks a generation answers from (its base's, less the dead ones, plus its own)."""
    name = store.collection_name(settings)
    layer = read(gen)
    count = store.chroma_client(gen, settings).get_collection(name).count()
    if layer is not None:  # read only: a base is never written once live
        count += store.chroma_client(gen.parent / layer.base, settings).get_collection(name).count()
        count -= layer.dead_chunks
    return count
