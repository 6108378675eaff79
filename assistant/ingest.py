"""Ingestion: sync the sources folder into the index (new, changed, removed), atomically and idempotently."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

from . import backends, layers, recovery, scans, team
from .config import Settings
from .formats import ocr
from .messages import message
from .models import Source
from .sources import PRIVATE_DIR, SourceError, discover, file_hash, owner_of, read_source, slugify, source_id_for
from . import store

Progress = Callable[[str], None]
Touched = dict[str, list[Path]]  # source id -> the files it now has in the sources folder (none: gone)


@dataclass
class SyncReport:
    """What one sync did."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # file name -> Arabic reason
    embedded: int = 0
    seconds: float = 0.0

    @property
    def touched(self) -> bool:
        """True when the index changed."""
        return bool(self.added or self.changed or self.removed)


def _documents(sources: list[Source]):  # type: ignore[no-untyped-def]
    from llama_index.core import Document

    docs = []
    for s in sources:
        meta = {"source_id": s.source_id, "title": s.title, "origin": s.origin, "date": s.date}
        docs.append(Document(text=s.text, id_=s.source_id, metadata=meta,
                             excluded_embed_metadata_keys=list(meta), excluded_llm_metadata_keys=list(meta)))
    return docs


def read_file(settings: Settings, path: Path, say: Progress, source_id: str | None = None) -> Source:
    """One file read into a Source within the settings' bounds (size, OCR pages and seconds), scans page by page."""
    def page(n: int, total: int) -> None:
        say(message("ocr_page", name=path.name, page=n, total=total))

    with ocr.bounds(settings.max_pages, settings.ocr_page_seconds, page, settings.index / scans.SCANS_DIRNAME):
        return read_source(path, max_bytes=int(settings.max_file_mb * 1e6), source_id=source_id)


def read_folder(settings: Settings, known: dict[str, Source], say: Progress | None = None,
                only: Touched | None = None) -> tuple[dict[str, Source], dict[str, str]]:
    """Read every file of the sources folder; duplicates of content and unreadable files are reported.

    With ``only`` (source id -> its files now, none when it is gone), only those files are read: every other
    source stays as indexed, its file not opened (a write that names what it changes costs what it changes).
    """
    found: dict[str, Source] = {}
    failed: dict[str, str] = {}
    by_hash: dict[tuple[str, str], str] = {}  # (owner, content hash) -> id: duplicates are per owner
    folder = settings.sources
    if only is None:
        candidates = discover(folder)
    else:
        for sid, src in known.items():
            if sid not in only:
                found[sid] = src
                by_hash[src.owner, src.content_hash] = sid
        candidates = sorted({p for paths in only.values() for p in paths if p.is_file()})
    # already-indexed files first, then oldest first: the later copy is the one called a duplicate
    paths = sorted(candidates, key=lambda p: (source_id_for(p, folder) not in known, p.stat().st_mtime, p.name))
    root = folder.resolve()
    for path in paths:
        sid = source_id_for(path, folder)
        if not path.resolve().is_relative_to(root):  # a link out of the folder (to /etc/passwd, say) is not a source
            failed[path.name] = SourceError("outside", name=path.name).text()
            continue
        try:
            src = _unchanged(known.get(sid), path) or read_file(settings, path, say or (lambda _m: None), sid)
            src = replace(src, owner=owner_of(path, folder))
        except SourceError as err:
            failed[path.name] = err.text()
            if sid in known:  # keep what was indexed rather than lose it to a broken edit
                found[sid] = known[sid]
            continue
        if sid in found:  # another file with the same id (report.md beside report.txt)
            key = "duplicate" if found[sid].content_hash == src.content_hash else "name_taken"
            failed[path.name] = SourceError(key, name=path.name, existing=sid).text()
            continue
        if (src.owner, src.content_hash) in by_hash:
            failed[path.name] = SourceError("duplicate", name=path.name, existing=by_hash[src.owner, src.content_hash]).text()
            continue
        by_hash[src.owner, src.content_hash] = sid
        found[sid] = src
    return found, failed


def _unchanged(old: Source | None, path: Path) -> Source | None:
    """The indexed source itself when its file's bytes are the ones it was read from (no parsing, no OCR again)."""
    if old is None or not old.file_hash:
        return None
    try:
        same = file_hash(path.read_bytes()) == old.file_hash
    except OSError:
        return None
    return replace(old, path=str(path)) if same else None


def sync(settings: Settings, progress: Progress | None = None, only: Touched | None = None) -> SyncReport:
    """Bring the index in line with the sources folder; unchanged documents cost nothing.

    ``only``: the sources a write changed and their files (``add``, ``remove``): the rest of the folder is not
    looked at; without it, every file is.
    """
    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    index_dir = settings.index
    with store.writer_lock(index_dir):
        store.cleanup(index_dir)
        recovery.recover(settings, say)  # a server write a crash left unfinished is rolled back first
        live = store.current_generation(index_dir)
        known = store.read_manifest(live)
        if team.enabled(settings):
            team.publish(settings, known)  # a writer killed after its switch left the team's record behind
        found, failed = read_folder(settings, known, say, only)
        if team.enabled(settings):
            for sid in team.held_elsewhere(settings, set(found) - set(known)):
                name = Path(found.pop(sid).path or sid).name
                failed[name] = SourceError("team_taken", name=name, existing=sid).text()
        report = SyncReport(failed=failed)
        for sid, src in found.items():
            old = known.get(sid)
            if old is None:
                report.added.append(sid)
            elif old.content_hash != src.content_hash or (old.title, old.origin, old.date) != (src.title, src.origin, src.date):
                report.changed.append(sid)
            else:
                report.unchanged.append(sid)
        report.removed = sorted(set(known) - set(found))
        _keep_failures(settings, failed, None if only is None else {p.name for ps in only.values() for p in ps})
        if live is not None and not report.touched:
            report.seconds = time.perf_counter() - t0
            return report
        report.embedded = _write_generation(settings, live, known, found, report, say)
        _drop_unused_scans(settings, found)
    report.seconds = time.perf_counter() - t0
    return report


FAILURES = "last-failures.json"  # beside the generations: the files the last sync could not index, and why


def _keep_failures(settings: Settings, failed: dict[str, str], looked_at: set[str] | None = None) -> None:
    """Record the files this sync could not index (``looked_at``: the only file names it read; the failures of
    the others, from earlier syncs, stay listed)."""
    if looked_at is not None:
        try:
            before = json.loads((settings.index / FAILURES).read_text(encoding="utf-8")).get("failed", {})
        except (OSError, ValueError, AttributeError):
            before = {}
        failed = {**{k: v for k, v in before.items() if k not in looked_at and k not in failed}, **failed}
    try:
        store.write_atomic(settings.index / FAILURES, json.dumps(
            {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "failed": failed}, ensure_ascii=False, indent=1))
    except OSError:  # a read-only index still answers; the list is a convenience
        pass


def _drop_unused_scans(settings: Settings, found: dict[str, Source]) -> None:
    """Remove the page images of scans no indexed source comes from any more."""
    keep = {s.file_hash for s in found.values() if s.file_hash}
    folder = settings.index / scans.SCANS_DIRNAME
    if folder.is_dir():
        for d in folder.iterdir():
            if d.is_dir() and not d.name.startswith(".") and d.name not in keep:
                shutil.rmtree(d, ignore_errors=True)


def folder_status(settings: Settings) -> tuple[list[str], dict[str, str]]:
    """(files in the sources folder not indexed yet, files the last sync could not index with the reason)."""
    try:
        failed = json.loads((settings.index / FAILURES).read_text(encoding="utf-8")).get("failed", {})
    except (OSError, ValueError):
        failed = {}
    indexed = set(store.read_manifest(store.current_generation(settings.index)))
    folder = settings.sources
    pending = [p.name for p in discover(folder) if source_id_for(p, folder) not in indexed and p.name not in failed]
    return sorted(pending), {str(k): str(v) for k, v in failed.items()}


MAX_ADD = 5000  # chunks per call into Chroma (also bounded by what the Chroma client says it accepts)
# what a chunk keeps in Chroma: what retrieval, citations and BM25 read, and document_id, by which a source's
# chunks are deleted (as llama-index's ChromaVectorStore does). llama-index's own add also writes the node serialised as JSON
# (_node_content, about 1.5 KB a chunk, indexed by Chroma's SQLite as a string) and three more copies of the id:
# nothing reads them, and they made Chroma's SQLite 14 KB a chunk.
STORED = ("source_id", "title", "paragraph", "start", "end", "origin", "date", "chunk", "document_id")


@functools.cache
def _batched(store_cls: type) -> type:
    """The Chroma vector store, adding nodes with only the metadata the assistant reads, in slices Chroma
    accepts (it refuses more than its max batch size: 5461 here, so one sync of a 10,000-chunk library failed)."""

    class SlimChromaVectorStore(store_cls):  # type: ignore[misc, valid-type]
        def add(self, nodes, **kwargs):  # type: ignore[no-untyped-def]
            step = getattr(self, "_batch", MAX_ADD)
            ids: list[str] = []
            for i in range(0, len(nodes), step):
                part = nodes[i:i + step]
                metas = [{k: v for k, v in {**n.metadata, "document_id": n.ref_doc_id}.items()
                          if k in STORED and v is not None} for n in part]
                self._collection.add(ids=[n.node_id for n in part], embeddings=[n.get_embedding() for n in part],
                                     metadatas=metas, documents=[n.get_content() for n in part])
                ids += [n.node_id for n in part]
            return ids

    return SlimChromaVectorStore


def _write_generation(settings: Settings, live: Path | None, known: dict[str, Source], found: dict[str, Source],
                      report: SyncReport, say: Progress) -> int:
    """Write the sync's changes into a new generation and make it live: a layer over the live one's base when the
    change is small, else a full generation (folding in the live layer, if any); see layers.py."""
    from .keyword import update_keyword_state

    gone = set(report.removed + report.changed)
    todo = [found[s] for s in report.added + report.changed]
    how = layers.plan(live, known, gone, todo, settings)
    old = layers.read(live)
    fold = old is not None and not how.layered  # the live layer's chunks move into a new full generation
    if how.layered:  # a copy of the live layer's few chunks, or nothing when the live generation is full
        work = store.new_generation(settings.index, live if old is not None else None)
    else:
        work = store.new_generation(settings.index, store.base_of(live) if live is not None else None)
    try:
        client = store.chroma_client(work, settings)
        collection = client.get_or_create_collection(store.collection_name(settings), metadata={"hnsw:space": "cosine"})
        # the manifest already says which sources are new, changed or gone (by content hash), so no llama-index
        # docstore: it kept every document's text once more and was rewritten whole by each write
        (work / "docstore.json").unlink(missing_ok=True)
        (work / layers.LAYER).unlink(missing_ok=True)
        recovery.begin(settings, work, report.removed + report.changed + report.added)  # before the server changes
        dead = old.dead if fold and old is not None else frozenset()
        _delete_sources(collection, how.drop_from_layer if how.layered else gone | dead)
        if fold:
            _copy_chunks(store.chroma_client(live, settings).get_collection(store.collection_name(settings)),  # type: ignore[arg-type]
                         collection, gone)
        nodes = _index_sources(settings, todo, _vector_store(client, collection), say) if todo else []
        manifest = _manifest(known, found, nodes)
        store.write_manifest(work, manifest, {"embed_model": settings.embed_model, "collection": store.collection_name(settings)})
        if how.layered and how.layer is not None:
            layers.write(work, how.layer)
        update_keyword_state(collection, work / "bm25", how.drop_from_layer if how.layered else gone, nodes,
                             index=not how.layered, fold=(live / "bm25", dead) if fold and live is not None else None)
        del collection, client
        _release_chroma(work)
        if not how.layered:
            store.compact(work)
        store.publish(settings.index, work)
        recovery.done(settings)
        if team.enabled(settings):
            team.publish(settings, manifest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        _roll_back_quietly(settings)
        raise
    return len(nodes)


def _manifest(known: dict[str, Source], found: dict[str, Source], nodes: list[tuple[str, str, dict]]) -> dict[str, Source]:
    """The new generation's sources: chunk counts from what was just indexed, versions and dates carried on."""
    counts: dict[str, int] = {}
    for _, _, meta in nodes:
        counts[meta["source_id"]] = counts.get(meta["source_id"], 0) + 1
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    manifest = {}
    for sid, src in found.items():
        old = known.get(sid)
        chunks = counts.get(sid, old.chunks if old else 0)
        edited = old is not None and old.content_hash != src.content_hash
        manifest[sid] = replace(src, added=(old.added if old and old.added else now), chunks=chunks,
                                version=(old.version + edited) if old else 1,
                                updated=now if edited else (old.updated if old else ""))
    return manifest


DELETE_PAGE = 500  # source ids per delete call (SQLite bounds the variables of one statement)


def _delete_sources(collection, source_ids: set[str] | frozenset[str]) -> None:  # type: ignore[no-untyped-def]
    """Delete the chunks of these sources, as llama-index's ChromaVectorStore.delete does (by document_id), without
    importing llama-index (3 s of a removal's CLI)."""
    ids = sorted(source_ids)
    for i in range(0, len(ids), DELETE_PAGE):
        collection.delete(where={"document_id": {"$in": ids[i:i + DELETE_PAGE]}})


def _copy_chunks(source, target, skip: set[str]) -> None:  # type: ignore[no-untyped-def]
    """Copy every chunk (vector, text, metadata) of one collection into another, those of ``skip`` sources left out."""
    offset = 0
    while True:
        got = source.get(include=["embeddings", "documents", "metadatas"], limit=MAX_ADD, offset=offset)
        if not len(got["ids"]):
            return
        offset += len(got["ids"])
        keep = [j for j, m in enumerate(got["metadatas"]) if (m or {}).get("source_id") not in skip]
        if keep:
            target.add(ids=[got["ids"][j] for j in keep], embeddings=[got["embeddings"][j] for j in keep],
                       documents=[got["documents"][j] for j in keep], metadatas=[got["metadatas"][j] for j in keep])


def _vector_store(client, collection):  # type: ignore[no-untyped-def]
    """llama-index's Chroma vector store over ``collection``, adding in batches the client accepts."""
    from llama_index.vector_stores.chroma import ChromaVectorStore

    vector_store = _batched(ChromaVectorStore)(chroma_collection=collection)
    vector_store._batch = max(1, min(int(client.get_max_batch_size()), MAX_ADD))
    return vector_store


def _roll_back_quietly(settings: Settings) -> None:
    """After a failed server write, undo what reached the server now (or, if that fails too, at the next write)."""
    if not settings.chroma_host:
        return
    try:
        recovery.recover(settings, lambda _m: None)
    except Exception:  # noqa: BLE001 - the record stays; the next writer rolls back
        pass


BATCH_CHARS = 400_000  # source text split and embedded per step: memory stays bounded however large the batch


def _index_sources(settings: Settings, todo: list[Source], vector_store, say: Progress) -> list[tuple[str, str, dict]]:  # type: ignore[no-untyped-def]
    """Split, embed and store the sources a step at a time; returns (chunk id, text, metadata) of every chunk.

    One pipeline run over a whole library kept every node with its vector (and llama-index's ingestion cache a
    second copy) until the end: 1.7 GB and growing a few minutes into a 100,000-chunk ingest."""
    from llama_index.core.ingestion import IngestionPipeline

    from .chunking import ArabicSentenceSplitter
    from .llama_embedding import pipeline_embedding

    say(f"indexing {len(todo)} source(s)")
    embed = pipeline_embedding(backends.embedder_for(settings, say))  # a removal loads no model
    pipeline = IngestionPipeline(transformations=[ArabicSentenceSplitter(max_words=settings.chunk_max_words), embed],
                                 vector_store=vector_store, disable_cache=True)
    out: list[tuple[str, str, dict]] = []
    steps = list(_steps(todo, BATCH_CHARS))
    done = 0
    for step in steps:
        for n in pipeline.run(documents=_documents(step)):
            out.append((n.node_id, n.get_content(), dict(n.metadata)))
        done += len(step)
        if len(steps) > 1:
            say(f"indexed {done}/{len(todo)} source(s), {len(out)} chunks")
    return out


def _steps(todo: list[Source], limit: int) -> Iterator[list[Source]]:
    """The sources in consecutive groups of at most ``limit`` characters of text (a longer source alone)."""
    step: list[Source] = []
    size = 0
    for src in todo:
        if step and size + len(src.text) > limit:
            yield step
            step, size = [], 0
        step.append(src)
        size += len(src.text)
    if step:
        yield step


def _release_chroma(path: Path) -> None:
    """Drop Chroma's cached client for a folder so the files can be moved and reopened cleanly."""
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
    except Exception:  # pragma: no cover - older/newer chroma layouts
        pass


# files found in an added folder that are not documents and need no mention
_IGNORED_IN_FOLDERS = {".ini", ".db", ".tmp", ".lnk", ".url"}


def _expand(paths: list[Path], exts: set[str]) -> list[Path]:
    """The files named, and the visible files of the folders named (those of unknown formats too: they are
    reported, not silently left out; system clutter such as desktop.ini is)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(f for f in sorted(p.rglob("*")) if f.is_file()
                         and not any(part.startswith(".") for part in f.relative_to(p).parts)
                         and (f.suffix.lower() in exts or f.suffix.lower() not in _IGNORED_IN_FOLDERS))
        else:
            files.append(p)
    return files


def add_files(settings: Settings, paths: list[Path], progress: Progress | None = None, owner: str = "",
              replace_existing: bool = False) -> SyncReport:
    """Copy files (or the files in folders) into the sources folder, then sync; bad files are listed, not copied.

    With ``owner``, the files are that user's private uploads (``sources/private/<owner>/``): a duplicate is
    only one of the sources that user can see, so nothing about other users' uploads is revealed.

    With ``replace_existing``, a file whose id is taken replaces that source's file: the sync publishes the new
    version in one step, so at every moment the document answers from the old text or the new, never neither;
    when the index cannot take it, the old file is put back.
    """
    from .sources import supported_extensions

    exts = set(supported_extensions())
    target = settings.sources / PRIVATE_DIR / owner if owner else settings.sources
    target.mkdir(parents=True, exist_ok=True)
    with store.writer_lock(settings.index):  # held from the first copy: two batches never interleave
        return _add_locked(settings, paths, progress, owner, target, exts, replace_existing)


def _add_locked(settings: Settings, paths: list[Path], progress: Progress | None, owner: str, target: Path,
                exts: set[str], replace_existing: bool = False) -> SyncReport:
    """``add_files`` with the writer lock held: copy what is new, then sync; on any failure put everything back."""
    live = store.current_generation(settings.index)
    known = {sid: s for sid, s in store.read_manifest(live).items() if s.owner in ("", owner)}
    copied: list[Path] = []
    kept: dict[Path, bytes] = {}  # files replaced, with their old bytes (put back if the index cannot follow)
    touched: Touched = {}
    try:
        failed = _copy_in(settings, _expand(paths, exts), target, known, replace_existing, copied, kept, touched,
                          progress or (lambda _m: None))
        report = sync(settings, progress, only=touched)
    except BaseException:
        for c in copied:  # nothing half-added: the files go when the index could not take them
            c.unlink(missing_ok=True)
        for path, data in kept.items():  # and the versions they replaced come back
            path.write_bytes(data)
        raise
    report.failed.update(failed)
    return report


def _copy_in(settings: Settings, files: list[Path], target: Path, known: dict[str, Source], replace_existing: bool,
             copied: list[Path], kept: dict[Path, bytes], touched: Touched, say: Progress) -> dict[str, str]:
    """Copy each readable, new file into ``target`` (recording what was copied, set aside and which sources
    that touches); the failures."""
    by_hash = {s.content_hash: sid for sid, s in known.items()}
    failed: dict[str, str] = {}
    taken: set[str] = set()
    for f in files:
        try:
            src = read_file(settings, f, say)
        except SourceError as err:
            failed[f.name] = err.text()
            continue
        except FileNotFoundError:
            failed[f.name] = SourceError("unreadable", name=f.name).text()
            continue
        dest = target / f"{src.source_id}{f.suffix.lower()}"
        sid = source_id_for(dest, settings.sources)
        if src.content_hash in by_hash:
            if not (replace_existing and by_hash[src.content_hash] == sid):  # replacing with the same text: nothing to do
                failed[f.name] = SourceError("duplicate", name=f.name, existing=by_hash[src.content_hash]).text()
            continue
        in_place = dest.exists() and dest.resolve() == f.resolve()  # already in the sources folder: sync indexes it
        if replace_existing and sid in known and sid not in taken and not in_place:
            kept.update(_set_aside(settings, known[sid]))
        if not in_place and (dest.exists() or sid in known and not replace_existing or sid in taken):
            # another source already has this id (same file name, different content): never overwrite it
            failed[f.name] = SourceError("name_taken", name=f.name, existing=sid).text()
            continue
        taken.add(sid)
        by_hash[src.content_hash] = sid
        touched[sid] = [dest]
        if not in_place:
            tmp = dest.with_name(f".{dest.name}.tmp")
            shutil.copyfile(f, tmp)
            os.replace(tmp, dest)
            copied.append(dest)
    return failed


def _files_of(settings: Settings, src: Source) -> list[Path]:
    """The files in the sources folder with this source's id: looked for beside its recorded file (ids come from
    names, so files of one id share a folder), in the whole folder only when that file is not where it was."""
    folder = settings.sources
    recorded = Path(src.path) if src.path else None
    if recorded is not None and recorded.is_file() and source_id_for(recorded, folder) == src.source_id:
        return [p for p in discover(recorded.parent, recursive=False) if source_id_for(p, folder) == src.source_id]
    return [p for p in discover(folder) if source_id_for(p, folder) == src.source_id]


def _set_aside(settings: Settings, src: Source) -> dict[Path, bytes]:
    """Remove the files of an indexed source from the sources folder, returning their bytes."""
    found = {p: p.read_bytes() for p in _files_of(settings, src)}
    for p in found:
        p.unlink()
    return found


def add_text(settings: Settings, title: str, text: str, progress: Progress | None = None, owner: str = "") -> SyncReport:
    """Add pasted text under a title, then sync (kept as .txt with front matter: the text is literal, not Markdown)."""
    import tempfile

    import yaml

    flat = re.sub(r"[\\/]+", "-", title)  # a slash in a title is not a folder
    sid = slugify(flat) if slugify(flat) != "source" else f"pasted-{int(time.time())}"
    front = yaml.safe_dump({"title": title, "origin": "نص ملصق", "language": "ar"}, allow_unicode=True).strip()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{sid}.txt"
        path.write_text(f"---\n{front}\n---\n{text}\n", encoding="utf-8")
        return add_files(settings, [path], progress, owner=owner)


def remove_source(settings: Settings, source_id: str, progress: Progress | None = None) -> SyncReport:
    """Delete a source's file from the sources folder and its chunks from the index."""
    with store.writer_lock(settings.index):  # the file goes only once this writer owns the index
        known = store.read_manifest(store.current_generation(settings.index))
        if source_id not in known:
            raise KeyError(source_id)
        kept = {p: p.read_bytes() for p in _files_of(settings, known[source_id])}
        for path in kept:
            path.unlink()
        try:
            return sync(settings, progress, only={source_id: []})
        except BaseException:
            for path, data in kept.items():  # the index still holds it: so does the folder
                path.write_bytes(data)
            raise
