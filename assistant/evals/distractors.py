"""``--distractors FILE [N]``: paragraphs of a SQuAD-format file indexed beside a set's own documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from ..config import Settings
from .base import EvalSetError
from .squad import one_paragraph, squad_articles
from .suites import EvalSet, set_documents


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


def add_distractors(settings: Settings, eval_set: EvalSet, path: Path, n: int | None = None) -> int:
    """Index ``n`` paragraphs (file order; default all) of a SQuAD-format file beside the set's documents.

    Each paragraph becomes a source ``distractor-<file>-<article>-<paragraph>`` (0-based positions), so
    its id is stable and never one of the set's own. Paragraphs whose text is already among the set's
    documents (or repeats an earlier one) are skipped and do not count. The set's name becomes
    ``<name>+distractors-<count>``. Returns the number of paragraphs added.
    """
    path = Path(path)
    if n is not None and n < 1:
        raise EvalSetError("--distractors: the number of paragraphs must be at least 1")
    articles = squad_articles(path, " (--distractors)")
    own_ids, seen = _set_ids_and_hashes(settings, eval_set)
    added, duplicates = _new_paragraphs(path, articles, n, own_ids, seen, eval_set.name)
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


def _set_ids_and_hashes(settings: Settings, eval_set: EvalSet) -> tuple[set[str], set[str]]:
    """The source ids of the set's own documents and the content hashes of their texts."""
    from ..sources import SourceError, clean_text, content_hash, read_source, slugify, split_front_matter

    files, docs = set_documents(settings, eval_set)
    own_ids = {slugify(f.name) for f in files} | {slugify(name) for name, _ in docs}
    seen: set[str] = set()
    for f in files:
        try:
            seen.add(read_source(f).content_hash)
        except SourceError:
            pass
    for _, content in docs:
        seen.add(content_hash(clean_text(split_front_matter(content)[1])))
    return own_ids, seen


def _squad_paragraphs(path: Path, articles: list[Any]) -> Iterator[tuple[int, int, str, str]]:
    """(article, paragraph, title, text) of each paragraph in file order, 0-based, checked as it is reached."""
    for a_no, article in enumerate(articles):
        paras = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paras, list):
            raise EvalSetError(f"{path}: data[{a_no}] has no 'paragraphs' list")
        title = str(article.get("title") or f"article {a_no + 1}").replace("_", " ").strip()
        for p_no, para in enumerate(paras):
            context = para.get("context") if isinstance(para, dict) else None
            if not isinstance(context, str):
                raise EvalSetError(f"{path}: data[{a_no}].paragraphs[{p_no}]: expected a 'context' string")
            yield a_no, p_no, title, one_paragraph(context)


def _new_paragraphs(path: Path, articles: list[Any], n: int | None, own_ids: set[str], seen: set[str],
                    set_name: str) -> tuple[list[tuple[str, str]], int]:
    """Up to ``n`` (file name, content) documents of paragraphs not seen yet, and how many repeats were skipped."""
    from ..sources import clean_text, content_hash, slugify

    slug = (slugify(path.name) or "squad")[:30]
    added: list[tuple[str, str]] = []
    duplicates = 0
    for a_no, p_no, title, body in _squad_paragraphs(path, articles):
        if sum(1 for c in body if c.isalpha()) < 3:
            continue
        h = content_hash(clean_text(body))
        if h in seen:
            duplicates += 1
            continue
        seen.add(h)
        fname = f"distractor-{slug}-{a_no:04d}-{p_no:03d}.md"
        if slugify(fname) in own_ids:
            raise EvalSetError(f"{path}: distractor id {slugify(fname)!r} is already a source of set {set_name}")
        front = (f"---\ntitle: {json.dumps(f'{title} ({p_no + 1})', ensure_ascii=False)}\n"
                 f"origin: {json.dumps(path.name, ensure_ascii=False)}\n---\n")
        added.append((fname, front + body + "\n"))
        # stop here, before the next paragraph is read: later ones are not checked once N are taken
        if n is not None and len(added) >= n:
            break
    return added, duplicates
