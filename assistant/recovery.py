"""A write-ahead record for writes into a Chroma server, so that a crash never leaves it half-written.

The embedded store lives inside each index generation, so a generation switched in atomically carries its
vectors with it. A Chroma server is written in place: a writer killed between its first chunk and the switch
left chunks on the server that no manifest knew of (or old ones gone). Before it touches the server, a writer
now records which sources it is about to change and the generation that will carry the change; the record goes
once that generation is live. The next writer (every sync starts with this, and ``assistant chat`` syncs at
start) finds a record left behind and rolls back: the chunks of those sources leave the server, and they leave
the manifest and the keyword state too, so the sync that follows indexes them again from the sources folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, Sequence

from . import store
from .config import Settings

RECORD = "server-write.json"  # beside the generations, under the writer lock


def _path(settings: Settings) -> Path:
    return settings.index / RECORD


def begin(settings: Settings, work: Path, source_ids: Sequence[str]) -> None:
    """Record, durably, that ``source_ids`` are about to change on the server, for the generation ``work``."""
    if not settings.chroma_host:
        return
    record = {"generation": work.name.replace(".work-", ""), "collection": store.collection_name(settings),
              "sources": sorted(set(source_ids))}
    store.write_atomic(_path(settings), json.dumps(record, ensure_ascii=False))


def done(settings: Settings) -> None:
    """The write is live: forget its record."""
    _path(settings).unlink(missing_ok=True)


def _read(settings: Settings) -> dict:
    """The record left by an unfinished server write ({} when none, or when unreadable)."""
    try:
        record = json.loads(_path(settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def pending(settings: Settings) -> list[str]:
    """Source ids of a server write that did not finish (empty when none)."""
    return list(_read(settings).get("sources", []))


def recover(settings: Settings, say: Callable[[str], None]) -> list[str]:
    """Roll back a server write left unfinished (call under the writer lock); returns the source ids rolled back."""
    if not _path(settings).exists():
        return []
    record = _read(settings)
    live = store.current_generation(settings.index)
    if record and live is not None and live.name == record.get("generation"):
        done(settings)  # the switch happened; only the record's removal was lost
        return []
    ids = list(record.get("sources", []))
    if ids:
        _roll_back(settings, live, record.get("collection") or store.collection_name(settings), ids)
        say(f"recovered: an unfinished write of {len(ids)} source(s) was rolled back; they are indexed again")
    done(settings)
    return ids


def _roll_back(settings: Settings, live: Path | None, collection_name: str, ids: list[str]) -> None:
    from .keyword import update_keyword_state

    client = store.chroma_client(live or settings.index, settings)
    collection = client.get_or_create_collection(collection_name, metadata={"hnsw:space": "cosine"})
    collection.delete(where={"document_id": {"$in": ids}})
    known = store.read_manifest(live)
    if live is None or not any(i in known for i in ids):
        return
    work = store.new_generation(settings.index)
    try:
        manifest = {k: v for k, v in known.items() if k not in ids}
        store.write_manifest(work, manifest, {"embed_model": settings.embed_model, "collection": collection_name})
        update_keyword_state(collection, work / "bm25", set(ids), [])
        store.publish(settings.index, work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
