"""SQuAD-format files (ARCD, XQuAD, TyDi QA GoldP, Arabic-SQuAD) read as eval sets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .. import arabic
from .base import EvalSetError
from .suites import EvalItem, EvalSet


def squad_articles(path: Path, where: str = "") -> list[Any]:
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


def one_paragraph(context: str) -> str:
    """A SQuAD context with its line breaks joined by spaces, so that it is one cited paragraph."""
    return re.sub(r"\s*\n\s*", " ", context).strip()


class _SquadReader:
    """Walks a SQuAD file's articles, gathering items and paragraph documents and counting what it skips."""

    def __init__(self, path: Path, limit: int | None) -> None:
        self.path, self.limit = path, limit
        self.items: list[EvalItem] = []
        self.docs: list[tuple[str, str]] = []
        self.by_context: dict[str, str] = {}  # normalized paragraph text -> its source id
        self.seen_ids: set[str] = set()
        self.skipped_impossible = self.bad_offsets = 0

    def full(self) -> bool:
        """Whether ``limit`` questions have been kept."""
        return self.limit is not None and len(self.items) >= self.limit

    def article(self, a_no: int, article: Any) -> None:
        """Read every paragraph of article ``a_no`` (1-based)."""
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise EvalSetError(f"{self.path}: data[{a_no - 1}] has no 'paragraphs' list")
        title = str(article.get("title") or f"article {a_no}").replace("_", " ").strip()
        for p_no, para in enumerate(article["paragraphs"], start=1):
            self.paragraph(a_no, p_no, title, para)

    def paragraph(self, a_no: int, p_no: int, title: str, para: Any) -> None:
        """Add the paragraph as a document (once per distinct text) and keep its answerable questions."""
        where = f"{self.path}: data[{a_no - 1}].paragraphs[{p_no - 1}]"
        if not isinstance(para, dict) or not isinstance(para.get("context"), str) or not isinstance(para.get("qas"), list):
            raise EvalSetError(f"{where}: expected 'context' (string) and 'qas' (list)")
        context = para["context"]
        body = one_paragraph(context)
        key = arabic.normalize(body)
        if not body:
            return
        sid = self._source_id(key, a_no, p_no, title, body)
        for q_no, qa in enumerate(para["qas"], start=1):
            if self.full():
                break
            self.question(f"{where}.qas[{q_no - 1}]", qa, context, sid, title, f"{a_no}-{p_no}-{q_no}")

    def _source_id(self, key: str, a_no: int, p_no: int, title: str, body: str) -> str:
        """The source id of this paragraph text, writing its document the first time it is seen."""
        from ..sources import slugify

        if key in self.by_context:
            return self.by_context[key]
        fname = f"{a_no:04d}-{p_no:03d}-{slugify(title)[:40]}.md"
        sid = slugify(fname)
        self.by_context[key] = sid
        front = f"---\ntitle: {json.dumps(f'{title} ({p_no})', ensure_ascii=False)}\norigin: {json.dumps(self.path.name)}\n---\n"
        self.docs.append((fname, front + body + "\n"))
        return sid

    def question(self, where: str, qa: Any, context: str, sid: str, title: str, fallback_id: str) -> None:
        """Keep one question as an answerable item, or count it as skipped when it has no usable answer."""
        if not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
            raise EvalSetError(f"{where}: expected a 'question' string")
        answers = qa.get("answers") or []
        if qa.get("is_impossible") or not answers:
            self.skipped_impossible += 1
            return
        alts = self._alternatives(answers, context)
        if not alts or not any(ch.isalnum() for ch in qa["question"]):
            self.skipped_impossible += 1
            return
        qid = str(qa.get("id") or fallback_id)
        while qid in self.seen_ids:
            qid += "+"
        self.seen_ids.add(qid)
        self.items.append(EvalItem(id=qid, question=qa["question"].strip(), answerable=True,
                                   facts=(tuple(alts),), source=sid, paragraph=1, tags=(title,)))

    def _alternatives(self, answers: list[Any], context: str) -> list[str]:
        """The distinct answer texts (one fact's alternatives), counting offsets that miss their text."""
        alts: list[str] = []
        for ans in answers:
            text = str(ans.get("text", "")).strip() if isinstance(ans, dict) else ""
            if not text or not arabic.words(text):
                continue
            start = ans.get("answer_start")
            if isinstance(start, int) and context[start:start + len(ans["text"])] != ans["text"]:
                self.bad_offsets += 1
            if text not in alts:
                alts.append(text)
        return alts

    def warnings(self) -> list[str]:
        """What was skipped or looked wrong, for the report."""
        warnings: list[str] = []
        if self.skipped_impossible:
            warnings.append(f"{self.skipped_impossible} question(s) without an answer skipped (SQuAD 2.0 unanswerables are not scored)")
        if self.bad_offsets:
            warnings.append(f"{self.bad_offsets} answer(s) whose answer_start does not point at the answer text (the text is used)")
        return warnings


def load_squad(path: Path, limit: int | None = None) -> EvalSet:
    """A SQuAD v1.1/v2-format file as a set: each paragraph a source, each question an answerable item.

    With ``limit`` the first ``limit`` questions are kept (file order) and every paragraph of the
    articles they come from is indexed (the other paragraphs of an article are the distractors).
    Questions without answers (SQuAD 2.0 ``is_impossible``) are skipped. Paragraph breaks inside a
    context are joined with spaces so that the whole context is one cited paragraph.
    """
    from ..sources import slugify

    path = Path(path)
    articles = squad_articles(path)
    name = "squad-" + (slugify(path.name) or "set")
    reader = _SquadReader(path, limit)
    for a_no, article in enumerate(articles, start=1):
        if reader.full():
            break
        reader.article(a_no, article)
    items = reader.items
    if not items:
        raise EvalSetError(f"{path}: no answerable questions found")
    # index only the articles that hold a kept question (all of them without --limit)
    used = {it.source for it in items}
    keep_prefixes = {sid.split("-", 1)[0] for sid in used}
    docs = [(f, c) for f, c in reader.docs if f.split("-", 1)[0] in keep_prefixes]
    desc = f"SQuAD-format set {path.name}: {len(items)} question(s) over {len(docs)} paragraph(s)"
    return EvalSet(name=name, items=items, description=desc, path=path, documents=docs, warnings=reader.warnings())
