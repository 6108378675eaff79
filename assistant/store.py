"""The index on disk: generations swapped atomically, a writer lock, the Chroma store and the manifest.

Layout of ``index/``::

    CURRENT            name of the live generation (replaced atomically with os.replace)
    gen-<stamp>/       chroma/ (vector store), bm25/ (keyword state), sources.json, COMPLETE
    .lock              held by the one writer

A writer copies the live generation, changes the copy and only then points CURRENT at it, so a crash
at any moment leaves the previous generation answering; the next run deletes the unfinished copy. A small
write copies nothing of a large index: its generation is a layer over the last full one (``LAYER.json``
names that base, which is kept while a live or previous generation needs it; see layers.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterator

from .errors import IndexBusy, NoIndex, StoreUnreachable  # noqa: F401  (raised here, caught as store.NoIndex by callers)
from .models import Source

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

_HELD = threading.local()  # index folders whose writer lock this thread holds
CURRENT = "CURRENT"
SERVER_RETRIES = (0.5, 1.0, 2.0, None)  # seconds between tries to reach a Chroma server; None: give up
COMPLETE = "COMPLETE"


def current_generation(index_dir: Path) -> Path | None:
    """The live generation folder, or None when no complete index exists."""
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    gen = index_dir / name
    if (gen / LAYER).is_file() and not (base_of(gen) / COMPLETE).is_file():
        return None  # a layer whose base is gone (deleted by hand) cannot answer: the next sync rebuilds all
    return gen if (gen / COMPLETE).is_file() else None


@contextmanager
def writer_lock(index_dir: Path, wait: float = 30.0) -> Iterator[None]:
    """Hold the index's writer lock (waits up to ``wait`` seconds, then raises IndexBusy).

    Re-entrant within a thread: ``add`` holds it while copying files and the sync inside takes it again.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    key = str(index_dir.resolve())
    held = _HELD.__dict__.setdefault("dirs", set())
    if key in held:
        yield
        return
    with open(index_dir / ".lock", "a+") as fh:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise IndexBusy() from None
                time.sleep(0.1)
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
            fcntl.flock(fh, fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Write a small file so that readers see either the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


LIVE = Path("<live>")  # new_generation's default: start from a copy of the live generation


def new_generation(index_dir: Path, start: Path | None = LIVE) -> Path:
    """A fresh working copy of the live generation (or of ``start``; None or no live one: an empty folder),
    not yet live."""
    cleanup(index_dir)
    stamp = time.strftime("%Y%m%dT%H%M%S") + f"-{time.time_ns() % 1_000_000_000:09d}"
    work = index_dir / f".work-gen-{stamp}"
    live = current_generation(index_dir) if start == LIVE else start
    if live is not None:
        shutil.copytree(live, work, ignore=shutil.ignore_patterns(COMPLETE))
    else:
        work.mkdir(parents=True)
    return work


def publish(index_dir: Path, work: Path) -> Path:
    """Make a finished working copy the live generation, atomically; keep one previous generation."""
    (work / COMPLETE).write_text(time.strftime("%Y-%m-%dT%H:%M:%S"), encoding="utf-8")
    for f in work.rglob("*"):
        if f.is_file():
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
    final = index_dir / work.name.replace(".work-", "")
    os.replace(work, final)
    _fsync_dir(index_dir)
    previous = current_generation(index_dir)
    write_atomic(index_dir / CURRENT, final.name)
    keep = {final, base_of(final)} | ({previous, base_of(previous)} if previous else set())
    for gen in index_dir.glob("gen-*"):
        if gen not in keep:
            shutil.rmtree(gen, ignore_errors=True)
    return final


LAYER = "LAYER.json"  # in a generation written as a layer over a full one (layers.py)


def base_of(gen: Path) -> Path:
    """The full generation a generation answers from: itself, or the base a layer names (layers.py)."""
    try:
        return gen.parent / str(json.loads((gen / LAYER).read_text(encoding="utf-8"))["base"])
    except FileNotFoundError:
        return gen
    except (OSError, ValueError, KeyError, TypeError):  # a damaged record: no base, so the next sync rebuilds
        return gen.parent / ".unreadable-base"


def cleanup(index_dir: Path) -> None:
    """Delete working copies left by an interrupted writer (call under the writer lock)."""
    for work in index_dir.glob(".work-gen-*"):
        shutil.rmtree(work, ignore_errors=True)


def compact(gen: Path, share: float = 0.2) -> None:
    """VACUUM an embedded generation's Chroma SQLite when more than ``share`` of it is free pages: Chroma keeps
    each added record (its vector too) in a write-ahead queue and frees it once the vector index has it, which
    after a large ingest left about half the file empty. Call with no Chroma client open on it."""
    import sqlite3

    db = gen / "chroma" / "chroma.sqlite3"
    if not db.exists():
        return
    con = sqlite3.connect(db)
    try:
        free, pages = (con.execute(f"PRAGMA {p}").fetchone()[0] for p in ("freelist_count", "page_count"))
        if pages and free / pages > share:
            con.execute("VACUUM")
    finally:
        con.close()


def chroma_client(gen: Path, settings: Any):  # type: ignore[no-untyped-def]
    """A Chroma client: embedded under the generation folder, or the configured Chroma server."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if not settings.chroma_host:
        return chromadb.PersistentClient(path=str(gen / "chroma"), settings=chroma_settings)
    for wait in SERVER_RETRIES:  # a server restarting for a moment is waited for, a stopped one reported
        try:
            return chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings)
        except Exception:  # noqa: BLE001  (chromadb raises ValueError, httpx errors or OSError for one cause)
            if wait is None:
                raise StoreUnreachable(settings.chroma_host, settings.chroma_port) from None
            time.sleep(wait)
    raise AssertionError("unreachable")


def collection_name(settings: Any) -> str:
    """The Chroma collection name for these settings (the embedding model is part of it).

    On a shared Chroma server the home folder is part of it too: two projects pointed at one server never
    write into each other's collection (the embedded store lives inside its own index folder already), unless
    they name the same ``team_collection``.
    """
    import hashlib
    import re

    model = re.sub(r"[^a-zA-Z0-9._-]+", "-", settings.embed_model).strip("-._")[-40:] or "model"
    if settings.chroma_host and settings.team_collection:  # shared on purpose (see team.py)
        team = re.sub(r"[^a-zA-Z0-9._-]+", "-", settings.team_collection).strip("-._")[:60] or "team"
        return f"team-{team}-{model}"
    name = f"{settings.collection}-{model}"
    if settings.chroma_host:
        name += "-" + hashlib.sha256(str(Path(settings.index).resolve()).encode("utf-8")).hexdigest()[:10]
    return name[:200]


_MANIFESTS: dict[str, tuple[tuple[int, int], dict[str, Source]]] = {}  # the last manifest read, by its file's stat


def read_manifest(gen: Path | None) -> dict[str, Source]:
    """Sources kept by a generation, by id (text included); a manifest read before and unchanged on disk is not
    parsed again (at 10,000 sources one read is 0.2 s, and a write reads the live one twice)."""
    if gen is None or not (gen / "sources.json").is_file():
        return {}
    path = gen / "sources.json"
    st = path.stat()
    key, mark = str(path), (st.st_mtime_ns, st.st_size)
    cached = _MANIFESTS.get(key)
    if cached is not None and cached[0] == mark:
        return dict(cached[1])
    data = json.loads(path.read_text(encoding="utf-8"))
    out = {d["source_id"]: Source(**{**d, "pages": tuple(d.get("pages") or ())}) for d in data.get("sources", [])}
    _MANIFESTS.clear()  # one kept: the live one, read again and again
    _MANIFESTS[key] = (mark, out)
    return dict(out)


def write_manifest(gen: Path, sources: dict[str, Source], extra: dict[str, Any]) -> None:
    """Write the manifest of a working generation."""
    # one source a line, fields copied shallowly: asdict's deep copy and a fully indented dump took 1.6 s at
    # 10,000 sources, written again by every write
    rows = ",\n".join(json.dumps({f: getattr(s, f) for f in _FIELDS}, ensure_ascii=False)
                       for s in sorted(sources.values(), key=lambda s: s.source_id))
    head = json.dumps(extra, ensure_ascii=False)[1:-1]
    (gen / "sources.json").write_text("{" + (head + ",\n" if head else "") + '"sources": [\n' + rows + "\n]}\n",
                                      encoding="utf-8")


_FIELDS = tuple(f.name for f in fields(Source))
