"""One library shared on purpose by several homes on a Chroma server (the ``team_collection`` setting).

On a Chroma server each home has its own collection by default (its name carries a hash of the home's index
folder), so two homes never write into each other's by accident. A team that wants one library names it in
``team_collection`` in every home. The chunks then live in that collection, and beside it ``<name>-sources``
keeps what an answer needs besides the chunks: every source's manifest entry (its text, for exact quotes), the
home that added it, and a version record that every write changes. A home answers from what the server holds
(the sources of every home, BM25 built from the server's chunks) and loads it again when the version changes,
so two chat processes on one server answer alike and see each other's additions and removals.

A home's sync changes only the sources it added (those in its own folder); a source id another home already
holds is refused with a message, because chunks are stored and deleted by source id.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any, Collection

from . import store
from .config import Settings
from .keyword import every_chunk
from .models import Source

VERSION_ID = "__version__"
PAGE = 500  # records written per call


def enabled(settings: Settings) -> bool:
    """True when these settings share a team collection on a Chroma server."""
    return bool(settings.chroma_host and settings.team_collection)


def home_id(settings: Settings) -> str:
    """This home's mark on the server: a hash of its index folder (the same one per-home collection names carry)."""
    return hashlib.sha256(str(Path(settings.index).resolve()).encode("utf-8")).hexdigest()[:10]


def _state(client: Any, settings: Settings) -> Any:
    # a vector per record is required by Chroma; one constant dimension, never queried
    return client.get_or_create_collection(f"{store.collection_name(settings)}-sources"[:200])


def version(settings: Settings, client: Any | None = None) -> str:
    """The server's version of the team library (changes with every write by any home; "" before the first)."""
    client = client or store.chroma_client(settings.index, settings)
    got = _state(client, settings).get(ids=[VERSION_ID], include=["documents"])
    return str((got.get("documents") or [""])[0]) if got["ids"] else ""


def sources(settings: Settings, client: Any | None = None, only: Collection[str] | None = None) -> dict[str, Source]:
    """Every source of the team library (or those of ``only``), by id (text included)."""
    client = client or store.chroma_client(settings.index, settings)
    if only is None:
        _, docs, _ = every_chunk(_state(client, settings), {"kind": "source"})
    else:  # a source's record is stored under its id
        ids = sorted(only)
        docs = []
        for i in range(0, len(ids), PAGE):
            docs += _state(client, settings).get(ids=ids[i:i + PAGE], include=["documents"])["documents"] or []
    out = {}
    for doc in docs:
        d = json.loads(doc)
        out[d["source_id"]] = Source(**{**d, "pages": tuple(d.get("pages") or ())})
    return out


def stamps(settings: Settings, client: Any | None = None) -> dict[str, str]:
    """Each source's stamp (a hash of its record): what changed since a reader last loaded, without the texts."""
    client = client or store.chroma_client(settings.index, settings)
    ids, _, metas = every_chunk(_state(client, settings), {"kind": "source"}, documents=False)
    return {i: str(m.get("stamp", "")) for i, m in zip(ids, metas)}


def held_elsewhere(settings: Settings, ids: Collection[str]) -> set[str]:
    """Those of ``ids`` that another home of the team already holds."""
    if not ids:
        return set()
    client = store.chroma_client(settings.index, settings)
    held, _, metas = every_chunk(_state(client, settings), {"kind": "source"}, documents=False)
    me = home_id(settings)
    return {i for i, m in zip(held, metas) if i in ids and m.get("home") != me}


def _stamp(doc: str) -> str:
    return hashlib.sha256(doc.encode("utf-8")).hexdigest()[:16]


def publish(settings: Settings, own: dict[str, Source]) -> None:
    """Make the server's record of this home's sources match ``own`` (the live manifest), writing only the
    sources that changed, then change the version; called after every write and at the start of every sync,
    so a writer killed in between is made good by the next one."""
    client = store.chroma_client(settings.index, settings)
    state = _state(client, settings)
    me = home_id(settings)
    held, _, metas = every_chunk(state, {"$and": [{"kind": "source"}, {"home": me}]}, documents=False)
    stamps = {i: m.get("stamp") for i, m in zip(held, metas)}
    docs = {sid: json.dumps(asdict(s), ensure_ascii=False) for sid, s in own.items()}
    gone = [i for i in held if i not in own]
    fresh = [sid for sid in own if stamps.get(sid) != _stamp(docs[sid])]
    if not gone and not fresh:
        return
    for i in range(0, len(gone), PAGE):
        state.delete(ids=gone[i:i + PAGE])
    for i in range(0, len(fresh), PAGE):
        part = fresh[i:i + PAGE]
        state.upsert(ids=part, embeddings=[[1.0]] * len(part), documents=[docs[sid] for sid in part],
                     metadatas=[{"kind": "source", "home": me, "stamp": _stamp(docs[sid])} for sid in part])
    state.upsert(ids=[VERSION_ID], embeddings=[[1.0]], documents=[uuid.uuid4().hex], metadatas=[{"kind": "version"}])
