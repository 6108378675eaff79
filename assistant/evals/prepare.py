"""Getting a set ready to run: its index (cached or built for the run) checked against the set itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import arabic
from ..config import Settings
from .base import EvalSetError, Progress
from .index_cache import build_index, cached_index, eval_settings, use_cache
from .scoring import fact_in
from .suites import EvalSet, set_documents


def prepare_index(settings: Settings, eval_set: EvalSet, workdir: Path, progress: Progress | None = None,
                  cache: bool | None = None) -> Settings:
    """Index the set's sources (never the user's index) and return settings that use that index.

    With ``cache`` (default: on unless ``ASSISTANT_EVAL_INDEX_CACHE=0``) the index is built once under
    ``cache_dir/eval-index/<key>`` and reused by later runs over the same documents, embedding model,
    chunk settings and index code; without it, it is built in ``workdir``.
    """
    files, docs = set_documents(settings, eval_set)
    cache = use_cache() if cache is None else cache
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
        built = build_index(settings, folder, files, docs, progress)
    s = eval_settings(settings, folder)
    _drop_failed(eval_set, built.get("failed") or {})
    check_against_sources(s, eval_set)
    return s


def _drop_failed(eval_set: EvalSet, failed: dict[str, Any]) -> None:
    """Warn about files that could not be indexed and drop their questions (or refuse a set that needs them)."""
    from ..sources import slugify

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


def check_against_sources(settings: Settings, eval_set: EvalSet) -> None:
    """Check the set itself: cited sources exist, paragraphs exist and hold the expected facts."""
    from .. import store

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
            if not fact_in(where, alts):
                eval_set.warnings.append(f"{it.id}: fact «{' | '.join(alts)}» is not found in paragraph(s) {paras} of {it.source}")
