"""`assistant train-reader`: rebuild the reader from SQuAD-format files and report every design on dev and held-out."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ...config import Settings
from . import data
from .dataset import Example, build_examples, build_index, embed_questions
from .features import IDF
from .fit import fit_logistic

Progress = Callable[[str], None]
DEFAULT_DATA = (Path("../shared/data/xquad.ar.json"), Path("../shared/data/arcd-train.json"))


@dataclass
class Collected:
    """Examples of every split, and the IDF table learned from the training paragraphs."""

    train: list[Example]
    dev: list[Example]
    heldout: list[Example]
    idf: IDF
    files: list[str]
    n_paragraphs: int
    texts: dict | None = None
    index: object = None
    split: dict | None = None


def split_files(files: Sequence[Path]) -> tuple[list, list, dict[str, str]]:
    """All paragraphs and questions of the files, and each article's split ("train", "dev", "heldout")."""
    paragraphs, questions, split = [], [], {}
    for f in files:
        tag = "xquad" if "xquad" in f.name.lower() else ("arcd" if "arcd" in f.name.lower() else Path(f).stem[:8])
        ps, qs = data.load(f, tag)
        articles = sorted({p.article_key for p in ps})
        if tag == "xquad":
            heldout, dev = data.xquad_split(len(articles))
            for i, a in enumerate(articles):
                split[a] = "heldout" if i in heldout else ("dev" if i in dev else "train")
        else:  # the project's news articles are all training (news dev data has articles of its own in evals/dev/)
            dev = set() if Path(f).name == data.NEWS_TRAIN.name else set(data.arcd_dev(len(articles)))
            for i, a in enumerate(articles):
                split[a] = "dev" if i in dev else "train"
        paragraphs += ps
        questions += qs
    return paragraphs, questions, split


def collect(settings: Settings, files: Sequence[Path], workdir: Path, progress: Progress) -> Collected:
    """Index every paragraph, then ask every question and its twin through the real retrieval."""
    paragraphs, questions, split = split_files(files)
    idf = IDF.fit([p.text for p in paragraphs if split[p.article_key] == "train"])
    s, index = build_index(settings, paragraphs, workdir, progress)
    t0 = time.perf_counter()
    embed_questions(index, [q.question for q in questions], progress)
    progress(f"questions embedded in {time.perf_counter() - t0:.0f} s")
    parts: dict[str, list[Example]] = {"train": [], "dev": [], "heldout": []}
    for name in parts:
        qs = [q for q in questions if split[q.article_key] == name]
        progress(f"{name}: {len(qs)} questions")
        parts[name] = build_examples(index, qs, paragraphs, idf, s.top_k, progress)
    return Collected(parts["train"], parts["dev"], parts["heldout"], idf, [str(f) for f in files], len(paragraphs),
                     {p.key: p.text for p in paragraphs}, index, split)


# ------------------------------------------------------------------------------------------ fitting


class Boosted:
    """Design B: gradient-boosted trees over the same sentence features (kept for comparison)."""

    def __init__(self, X, y) -> None:  # type: ignore[no-untyped-def]
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.m = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.06, max_leaf_nodes=15,
                                                l2_regularization=1.0, random_state=0).fit(X, y)

    def proba(self, X):  # type: ignore[no-untyped-def]
        """Probability of the positive class."""
        return self.m.predict_proba(X)[:, 1]


def sentence_rows(exs: Sequence[Example]):  # type: ignore[no-untyped-def]
    """Stacked sentence features and labels of answerable retrievals and their twins."""
    import numpy as np

    Xs, ys = [], []
    for ex in exs:
        for a in (ex.answerable, ex.twin):
            if len(a.cands):
                Xs.append(a.feats)
                ys.append(a.labels)
    return np.vstack(Xs), np.concatenate(ys)


def span_rows(exs: Sequence[Example]):  # type: ignore[no-untyped-def]
    """Span features and labels of every gold sentence whose answer is one of its word runs."""
    import numpy as np

    Xs, ys = [], []
    for ex in exs:
        if ex.span_feats is None:
            continue
        y = np.zeros(len(ex.span_feats), dtype=np.int8)
        y[ex.span_gold] = 1
        Xs.append(ex.span_feats)
        ys.append(y)
    return np.vstack(Xs), np.concatenate(ys)


def gold_char_span(ex: Example, text: str, cand) -> tuple[int, int] | None:  # type: ignore[no-untyped-def]
    """The gold answer's offsets relative to a candidate sentence, when the answer is a run of its words."""
    from .spans import candidate_spans, gold_span, tokens

    toks = tokens(text, cand.start, cand.end)
    spans = candidate_spans(toks)
    g = gold_span(toks, spans, ex.q.answers)
    if g is None:
        return None
    i, j = spans[g]
    return toks[i].start - cand.start, toks[j].end - cand.start


def pair_examples(exs: Sequence[Example], scorer, texts: dict[str, str], negatives: int = 3,  # type: ignore[no-untyped-def]
                  twin_negatives: int = 2, seed: int = 0):
    """(question, sentence, span) pairs: gold sentences, the hardest wrong ones, and the twins' best ones."""
    import random

    import numpy as np

    from .neural import PairExample

    rng = random.Random(seed)
    out = []
    for ex in exs:
        a = ex.answerable
        if len(a.cands):
            probs = scorer(a)
            order = list(np.argsort(-probs))
            pos = [i for i in order if a.labels[i]]
            for i in pos[:1]:
                c = a.cands[i]
                span = gold_char_span(ex, texts[c.source_id], c)
                if span is not None:
                    out.append(PairExample(ex.q.question, c.text, span))
            for i in [i for i in order if not a.labels[i]][:negatives]:
                out.append(PairExample(ex.q.question, a.cands[i].text, None))
        t = ex.twin
        if len(t.cands):
            probs = scorer(t)
            for i in list(np.argsort(-probs))[:twin_negatives]:
                out.append(PairExample(ex.q.question, t.cands[i].text, None))
    rng.shuffle(out)
    return out


# ------------------------------------------------------------------------------------------ the command


T2_SHARE = 0.25  # training articles kept from the span head to fit design C's re-ranker and answerability


def _t1_t2(train: Sequence[Example], seed: int = 11) -> tuple[list[Example], list[Example]]:
    import random

    arts = sorted({ex.q.article_key for ex in train})
    t2 = set(random.Random(seed).sample(arts, max(1, round(len(arts) * T2_SHARE))))
    return [ex for ex in train if ex.q.article_key not in t2], [ex for ex in train if ex.q.article_key in t2]


def build_designs(coll: Collected, settings: Settings, progress: Progress, epochs: int = 2,  # type: ignore[no-untyped-def]
                  span_state: dict | None = None):
    """Fit the cosine baseline, designs A and B, and design C (span head + re-ranker); returns name -> reader.

    ``span_state``: a trained span head's own tensors, kept instead of training one (the rest is refitted)."""
    from dataclasses import fields, replace

    from ...e5_small import E5_SMALL_DIRNAME, prepare_e5_small
    from . import neural
    from .designs import BoostedReader, combiner_linear, cosine_linear, stage2_linear, window_linear
    from .features import SENTENCE_FEATURES
    from .model import TrainedReader, attach
    from .spans import SPAN_FEATURES

    texts = coll.texts or {}
    X, y = sentence_rows(coll.train)
    progress(f"sentence rows: {len(y)} ({int(y.sum())} hold the answer)")
    lin = fit_logistic(X, y, SENTENCE_FEATURES)
    Xs, ys = span_rows(coll.train)
    span = fit_logistic(Xs, ys, SPAN_FEATURES)
    base = TrainedReader(lin, lin, span, coll.idf, 0.5, 1000, 1000, {})
    out = {}
    for name, r in (("e5 cosine", replace(base, sentence=cosine_linear())), ("A: logistic over features", base)):
        out[name] = replace(r, answerable=stage2_linear(r, coll.train, texts, False))
    b = BoostedReader(**{f.name: getattr(base, f.name) for f in fields(TrainedReader)}, boost=Boosted(X, y))
    out["B: boosted trees over features"] = replace(b, answerable=stage2_linear(b, coll.train, texts, False))
    t1, t2 = _t1_t2(coll.train)
    a = out["A: logistic over features"]
    folder = prepare_e5_small(settings.cache_dir / E5_SMALL_DIRNAME, progress)
    if span_state is None:
        pairs = pair_examples(t1, lambda r: a.sentence.proba(r.feats), texts)
        progress(f"span head: {len(pairs)} pairs from {len(t1)} questions ({sum(p.answer is not None for p in pairs)} with an answer)")
        bert, tok = neural.load_base(folder)
        span_state = neural.train(bert, tok, pairs, progress, epochs=epochs).own_state()
    else:
        progress("span head: kept from the shipped reader")
    fresh, tok = neural.load_base(folder)  # an untouched base, as the embedder holds it at run time
    c = attach(replace(a, combiner=cosine_linear(), neural_state=span_state), fresh, tok)
    c = replace(c, combiner=combiner_linear(c, t2))
    c = replace(c, answerable=stage2_linear(c, t2, texts, True))
    c = replace(c, windower=window_linear(c, t2, texts))
    progress("window model fitted")
    out["C: features + span head"] = c
    return out


def _shipped_span_head() -> dict:
    """The shipped reader's span head tensors, as torch tensors (ReaderUnavailable when it has none or is damaged)."""
    import torch

    from .model import load

    state = load().neural_state
    if state is None:
        from ...errors import ReaderUnavailable

        raise ReaderUnavailable("reader_missing", "span head")
    return {k: torch.from_numpy(v.copy()) for k, v in state.items()}


def run(settings: Settings, files: Sequence[Path], workdir: Path, progress: Progress, epochs: int = 2,
        out_dir: Path | None = None, keep_span_head: bool = False) -> dict:
    """Rebuild the reader: collect, fit every design, choose on dev, report once on held-out, save the best.

    ``keep_span_head``: the shipped reader's span head is kept (read before anything is written) and the rest refitted."""
    from dataclasses import replace

    from . import card
    from .designs import choose, decisions, readings, rules_decisions
    from .metrics import summarise
    from .model import ARTEFACT, save

    t0 = time.perf_counter()
    span_state = _shipped_span_head() if keep_span_head else None
    coll = collect(settings, files, workdir, progress)
    texts = coll.texts or {}
    designs = build_designs(coll, settings, progress, epochs, span_state)
    table: dict[str, dict[str, dict[str, float]]] = {"rules (today's answerer)": {
        "dev": summarise(rules_decisions(coll.index, coll.dev)), "heldout": {}}}
    chosen: dict[str, tuple[float, int, int]] = {}
    for name, r in designs.items():
        progress(f"choosing threshold and windows on dev: {name}")
        th, whole, window, s = choose(r, readings(r, coll.dev, texts), texts)
        chosen[name] = (th, whole, window)
        table[name] = {"dev": s, "heldout": {}}
    # the criterion: best dev fact accuracy (each design at its own dev-chosen threshold and quote length),
    # among the designs that ship as plain numbers (trees would need a pickle, which loading must never run)
    shippable = [n for n, r in designs.items() if type(r).__name__ == "TrainedReader" and n != "e5 cosine"]
    best = max(shippable, key=lambda n: (table[n]["dev"]["fact_accuracy"], table[n]["dev"]["twin_refusal_recall"]))
    progress(f"design chosen on dev: {best}; now each design once on the held-out articles")
    table["rules (today's answerer)"]["heldout"] = summarise(rules_decisions(coll.index, coll.heldout))
    for name, r in designs.items():
        th, whole, window = chosen[name]
        table[name]["heldout"] = summarise(decisions(r, readings(r, coll.heldout, texts), texts, th, whole, window))
    th, whole, window = chosen[best]
    shipped = replace(designs[best], threshold=th, whole_words=whole, window_words=window)
    counts = {k: len(getattr(coll, k)) for k in ("train", "dev", "heldout")}
    shipped.meta.update(card.meta(best, table, counts, coll.files, coll.n_paragraphs, time.perf_counter() - t0))
    shipped.meta["span_head_kept"] = keep_span_head
    path = (out_dir / ARTEFACT.name) if out_dir else ARTEFACT
    digest = save(shipped, path)
    card.write(path.parent, shipped, digest)
    progress(f"reader saved: {path} (sha256 {digest[:16]}…) in {time.perf_counter() - t0:.0f} s")
    return {"design": best, "table": table, "sha256": digest}
