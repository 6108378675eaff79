"""YAML eval sets: the item and set types, validation, and which source files a set is asked against."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import arabic
from ..config import Settings
from .base import ROOT, EvalSetError


@dataclass(frozen=True)
class EvalItem:
    """One question with what a correct answer must hold."""

    id: str
    question: str
    answerable: bool
    facts: tuple[tuple[str, ...], ...] = ()  # every entry must appear; an entry is a tuple of alternatives
    source: str | None = None
    paragraph: int | None = None
    alt_paragraphs: tuple[int, ...] = ()
    history: tuple[str, ...] = ()  # earlier questions of the conversation, for follow-ups
    tags: tuple[str, ...] = ()
    exclude_sources: tuple[str, ...] = ()  # source ids left out of retrieval for this question

    @property
    def expected_paragraphs(self) -> set[tuple[str, int]]:
        """(source_id, paragraph) pairs that count as the right place."""
        if not self.answerable or self.source is None or self.paragraph is None:
            return set()
        return {(self.source, p) for p in (self.paragraph, *self.alt_paragraphs)}


@dataclass
class EvalSet:
    """A named list of items plus where its source documents come from."""

    name: str
    items: list[EvalItem]
    description: str = ""
    path: Path | None = None
    source_files: list[Path] = field(default_factory=list)  # copied into the temporary sources folder
    documents: list[tuple[str, str]] = field(default_factory=list)  # (file name, content) written there
    warnings: list[str] = field(default_factory=list)
    documents_dir: Path | None = None  # the set's own document folder (``documents:``), indexed instead of sources/
    distractors: list[tuple[str, str]] = field(default_factory=list)  # (file name, content): --distractors paragraphs
    distractor_info: dict[str, Any] = field(default_factory=dict)  # file, paragraphs added, duplicates skipped


_SET_KEYS = {"name", "description", "items", "sources", "documents"}
_ITEM_KEYS = {"id", "question", "answerable", "facts", "citation", "alt_paragraphs", "tags", "history", "notes",
              "exclude_sources"}


def _fail(where: str, text: str) -> EvalSetError:
    """An EvalSetError that says where in the set file the problem is."""
    return EvalSetError(f"{where}: {text}")


def _facts(where: str, raw: Any) -> tuple[tuple[str, ...], ...]:
    """An item's ``facts``: each entry a tuple of alternative strings, every one with something to match."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _fail(where, "'facts' must be a list (each entry a string, or a list of alternative strings)")
    out = []
    for n, entry in enumerate(raw, start=1):
        alts = entry if isinstance(entry, list) else [entry]
        if not alts or not all(isinstance(a, (str, int, float)) and not isinstance(a, bool) and str(a).strip() for a in alts):
            raise _fail(where, f"fact #{n} must be a non-empty string or a non-empty list of non-empty strings, got {entry!r}")
        for a in alts:
            if not arabic.words(str(a)):
                raise _fail(where, f"fact #{n} ({a!r}) has no letters or digits to match")
        out.append(tuple(str(a).strip() for a in alts))
    return tuple(out)


def _positive_int(where: str, name: str, raw: Any) -> int:
    """A paragraph number (1, 2, …) or an EvalSetError naming the field."""
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise _fail(where, f"'{name}' must be a paragraph number (1, 2, …), got {raw!r}")
    return raw


def parse_item(raw: Any, where: str) -> EvalItem:
    """Validate one YAML item; raises EvalSetError naming the item and the field."""
    if not isinstance(raw, dict):
        raise _fail(where, f"an item must be a mapping, got {type(raw).__name__}")
    item_id = raw.get("id")
    if not isinstance(item_id, (str, int)) or isinstance(item_id, bool) or not str(item_id).strip():
        raise _fail(where, "every item needs an 'id'")
    where = f"{where} (id {item_id})"
    unknown = set(raw) - _ITEM_KEYS
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_ITEM_KEYS))}")
    question = raw.get("question")
    if not isinstance(question, str) or not any(ch.isalnum() for ch in question):
        raise _fail(where, "'question' must be a non-empty string")
    answerable = raw.get("answerable")
    if not isinstance(answerable, bool):
        raise _fail(where, f"'answerable' must be true or false, got {answerable!r}")
    facts = _facts(where, raw.get("facts"))
    citation = raw.get("citation")
    alt = raw.get("alt_paragraphs") or []
    if not isinstance(alt, list):
        raise _fail(where, "'alt_paragraphs' must be a list of paragraph numbers")
    alt_t = tuple(_positive_int(where, "alt_paragraphs", a) for a in alt)
    source = paragraph = None
    if answerable:
        if not facts:
            raise _fail(where, "an answerable item needs at least one fact in 'facts'")
        if not isinstance(citation, dict) or set(citation) != {"source", "paragraph"}:
            raise _fail(where, "an answerable item needs 'citation: {source: ID, paragraph: N}'")
        source = citation["source"]
        if not isinstance(source, str) or not source.strip():
            raise _fail(where, "'citation.source' must be a source id (the file name without extension)")
        paragraph = _positive_int(where, "citation.paragraph", citation["paragraph"])
    else:
        if facts:
            raise _fail(where, "an unanswerable item must have 'facts: []'")
        if citation is not None:
            raise _fail(where, "an unanswerable item must have 'citation: null'")
        if alt_t:
            raise _fail(where, "an unanswerable item cannot have 'alt_paragraphs'")
    tags = raw.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise _fail(where, "'tags' must be a list of strings")
    history = raw.get("history") or []
    if not isinstance(history, list) or not all(isinstance(h, str) and h.strip() for h in history):
        raise _fail(where, "'history' must be a list of earlier questions (strings)")
    excluded = _excluded_sources(where, raw.get("exclude_sources"))
    if source and source.strip() in excluded:
        raise _fail(where, f"'exclude_sources' leaves out the cited source {source.strip()!r}")
    return EvalItem(id=str(item_id), question=question.strip(), answerable=answerable, facts=facts,
                    source=source.strip() if source else None, paragraph=paragraph, alt_paragraphs=alt_t,
                    history=tuple(history), tags=tuple(tags), exclude_sources=tuple(excluded))


def _excluded_sources(where: str, raw: Any) -> list[str]:
    """An item's ``exclude_sources``: distinct, stripped source ids."""
    excluded = [] if raw is None else raw
    if not isinstance(excluded, list) or not all(isinstance(x, str) and x.strip() for x in excluded):
        raise _fail(where, "'exclude_sources' must be a list of source ids (strings)")
    excluded = [x.strip() for x in excluded]
    if len(set(excluded)) != len(excluded):
        raise _fail(where, "'exclude_sources' lists a source id twice")
    return excluded


def load_set(path: Path) -> EvalSet:
    """Load and validate a YAML set; raises EvalSetError with the file, the item and what is wrong.

    ``sources:`` (optional) adds files or folders to the project's sources the set is asked against;
    ``documents:`` (optional) names a folder, relative to the set file, that holds the set's own documents:
    exactly those files are indexed, and every cited or excluded source id must be one of them.
    """
    from ..sources import slugify

    path = Path(path)
    if not path.is_file():
        raise EvalSetError(f"{path}: no such set file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EvalSetError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise EvalSetError(f"{path}: expected a mapping with 'name' and 'items'")
    unknown = set(data) - _SET_KEYS
    if unknown:
        raise EvalSetError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_SET_KEYS))}")
    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name):
        raise EvalSetError(f"{path}: 'name' must be a short identifier (letters, digits, '.', '-', '_'), got {name!r}")
    items = _items(path, data.get("items"))
    files: list[Path] = []
    srcs = data.get("sources")
    docs_dir = None
    if data.get("documents") is not None:
        if srcs is not None:
            raise EvalSetError(f"{path}: use either 'sources' (files added to the project's sources) or 'documents' "
                               "(the set's own folder, indexed alone), not both")
        docs_dir, files = _documents_folder(path, data["documents"])
        known = {slugify(f.name) for f in files}
        for it in items:
            unknown = sorted({x for x in (it.source, *it.exclude_sources) if x} - known)
            if unknown:
                raise EvalSetError(f"{path}: item {it.id!r} names source(s) not in {docs_dir}: {', '.join(unknown)}")
    elif srcs is not None:
        files = _sources_paths(path, srcs)
    desc = data.get("description") or ""
    return EvalSet(name=name, items=items, description=str(desc).strip(), path=path, source_files=files,
                   documents_dir=docs_dir)


def _items(path: Path, items_raw: Any) -> list[EvalItem]:
    """The set's ``items``, each validated, ids distinct."""
    if not isinstance(items_raw, list) or not items_raw:
        raise EvalSetError(f"{path}: 'items' must be a non-empty list")
    items, seen = [], set()
    for n, raw in enumerate(items_raw, start=1):
        item = parse_item(raw, f"{path}: item #{n}")
        if item.id in seen:
            raise EvalSetError(f"{path}: item #{n}: duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    return items


def _sources_paths(path: Path, srcs: Any) -> list[Path]:
    """The files named by a set's ``sources:`` (files or folders, relative to the set file)."""
    if isinstance(srcs, str):
        srcs = [srcs]
    if not isinstance(srcs, list) or not all(isinstance(s, str) for s in srcs):
        raise EvalSetError(f"{path}: 'sources' must be a path or a list of paths (files or folders, relative to the set file)")
    files: list[Path] = []
    for s in srcs:
        p = (path.parent / s).resolve()
        if not p.exists():
            raise EvalSetError(f"{path}: source path {s!r} does not exist ({p})")
        files.extend(_files_in(p))
    return files


def _documents_folder(path: Path, raw: Any) -> tuple[Path, list[Path]]:
    """The ``documents:`` folder of a set file (relative to it) and its source files (READMEs skipped)."""
    from ..sources import discover

    if not isinstance(raw, str) or not raw.strip():
        raise EvalSetError(f"{path}: 'documents' must be a folder (relative to the set file), got {raw!r}")
    folder = (path.parent / raw.strip()).resolve()
    if not folder.is_dir():
        raise EvalSetError(f"{path}: documents folder {raw!r} does not exist or is not a folder ({folder})")
    files = discover(folder)
    if not files:
        raise EvalSetError(f"{path}: documents folder {raw!r} holds no source files ({folder})")
    return folder, files


def _files_in(p: Path) -> list[Path]:
    """The source files of a folder, or the file itself."""
    from ..sources import discover

    return discover(p) if p.is_dir() else [p]


def _find_source_files(settings: Settings, ids: set[str]) -> list[Path]:
    """Files of ``settings.sources`` (then the repository's sources/) whose ids are cited by the set."""
    from ..sources import discover, slugify

    found: dict[str, Path] = {}
    for folder in (settings.sources, ROOT / "sources"):
        for p in discover(folder):
            sid = slugify(p.name)
            if (not ids or sid in ids) and sid not in found:
                found[sid] = p
        if not ids and found:
            break
    missing = ids - set(found)
    if missing:
        raise EvalSetError(f"the set cites source(s) not found in {settings.sources} or {ROOT / 'sources'}: {', '.join(sorted(missing))}")
    return list(found.values())


def set_documents(settings: Settings, eval_set: EvalSet) -> tuple[list[Path], list[tuple[str, str]]]:
    """(files copied, (name, content) written) into the eval sources folder, in writing order."""
    files = list(eval_set.source_files)
    if not files and not eval_set.documents and not eval_set.documents_dir:
        files = _find_source_files(settings, {it.source for it in eval_set.items if it.source})
    return files, [*eval_set.documents, *eval_set.distractors]
