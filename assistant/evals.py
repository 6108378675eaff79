"""Evaluation suites: run question sets through the chat's own answer path, score them, report, gate.

A set is a YAML file (``evals/article.yaml``) or a SQuAD-format JSON file (ARCD, XQuAD, TyDi QA GoldP,
Arabic-SQuAD). Every run indexes the set's sources into a **temporary** index (never the user's
``index/``) with the configured embedding model, asks every question through ``Assistant.ask`` — the
exact path the chat uses — and measures:

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


_SET_KEYS = {"name", "description", "items", "sources"}
_ITEM_KEYS = {"id", "question", "answerable", "facts", "citation", "alt_paragraphs", "tags", "history", "notes"}


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
    return EvalItem(id=str(item_id), question=question.strip(), answerable=answerable, facts=facts,
                    source=source.strip() if source else None, paragraph=paragraph, alt_paragraphs=alt_t,
                    history=tuple(history), tags=tuple(tags))


def load_set(path: Path) -> EvalSet:
    """Load and validate a YAML set; raises EvalSetError with the file, the item and what is wrong."""
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
    if srcs is not None:
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
    return EvalSet(name=name, items=items, description=str(desc).strip(), path=path, source_files=files)


def _files_in(p: Path) -> list[Path]:
    from .sources import discover

    return discover(p) if p.is_dir() else [p]


# ------------------------------------------------------------------------------------------- SQuAD


def load_squad(path: Path, limit: int | None = None) -> EvalSet:
    """A SQuAD v1.1/v2-format file as a set: each paragraph a source, each question an answerable item.

    With ``limit`` the first ``limit`` questions are kept (file order) and every paragraph of the
    articles they come from is indexed (the other paragraphs of an article are the distractors).
    Questions without answers (SQuAD 2.0 ``is_impossible``) are skipped. Paragraph breaks inside a
    context are joined with spaces so that the whole context is one cited paragraph.
    """
    from .sources import slugify

    path = Path(path)
    if not path.is_file():
        raise EvalSetError(f"{path}: no such SQuAD file")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EvalSetError(f"{path}: not a UTF-8 JSON file: {exc}") from None
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list) or not articles:
        raise EvalSetError(f"{path}: not SQuAD format (expected a top-level 'data' list of articles)")
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


def prepare_index(settings: Settings, eval_set: EvalSet, workdir: Path, progress: Progress | None = None) -> Settings:
    """Index the set's sources into ``workdir`` (never the user's index) and return settings that use it."""
    from .ingest import sync

    src_dir = workdir / "sources"
    src_dir.mkdir(parents=True, exist_ok=True)
    files = list(eval_set.source_files)
    if not files and not eval_set.documents:
        files = _find_source_files(settings, {it.source for it in eval_set.items if it.source})
    for f in files:
        shutil.copy2(f, src_dir / f.name)
    for name, content in eval_set.documents:
        (src_dir / name).write_text(content, encoding="utf-8")
    s = settings.replace(home=workdir, sources_dir=src_dir, index_dir=workdir / "index", prompts_dir=settings.prompts,
                         chroma_host="")
    report = sync(s, progress=progress)
    if report.failed:
        lost = "; ".join(f"{k}: {v}" for k, v in report.failed.items())
        if not eval_set.documents:
            raise EvalSetError(f"set {eval_set.name}: source(s) could not be indexed: {lost}")
        eval_set.warnings.append(f"{len(report.failed)} paragraph file(s) could not be indexed and their questions were dropped: {lost[:500]}")
        from .sources import slugify

        gone = {slugify(k) for k in report.failed}
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
        assistant.ask(first.question, history=list(first.history) or None, mode=config.mode)
    except QuestionError:
        pass
    results = []
    for n, item in enumerate(eval_set.items, start=1):
        error = ""
        t = time.perf_counter()
        try:
            answer = assistant.ask(item.question, history=list(item.history) or None, mode=config.mode)
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


def run_cli(settings: Settings, args: Any) -> int:
    """``assistant eval [SET ...] [--squad FILE] [--limit N] [--compare] [--no-gate]``.

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
