"""The model card written next to the reader's artefact: data, design, thresholds and figures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Sequence

from . import data

FIGURES = ("sentence_choice", "fact_accuracy", "span_em", "span_f1", "answerable_refused", "twin_refusal_recall",
           "near_refusal_recall", "words_mean", "ece")


def meta(design: str, table: dict, counts: dict[str, int], files: Sequence[str], n_paragraphs: int, seconds: float) -> dict[str, Any]:
    """What the artefact records about itself."""
    return {"design": design, "figures": table, "questions": counts, "data": [Path(f).name for f in files],
            "paragraphs_indexed": n_paragraphs, "heldout_seed": data.HELDOUT_SEED, "dev_seed": data.DEV_SEED,
            "trained": dt.date.today().isoformat(), "train_seconds": round(seconds)}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if v != v else f"{v:.3f}"
    return str(v)


def table_markdown(table: dict, split: str) -> str:
    """One markdown table of every design's figures on a split."""
    head = "| design | " + " | ".join(FIGURES) + " |\n|---|" + "---|" * len(FIGURES) + "\n"
    rows = [f"| {name} | " + " | ".join(_fmt(fig[split].get(k, "")) for k in FIGURES) + " |"
            for name, fig in table.items() if fig.get(split)]
    return head + "\n".join(rows) + "\n"


def _own_data(files: Sequence[str]) -> str:
    """The credit of the project's own news training articles, when they were used."""
    if not any(Path(f).name == data.NEWS_TRAIN.name for f in files):
        return ""
    return (" and the project's own news-style articles (`data/train/news-train.json`: original texts with invented"
            " events, written for the project and distributed under its terms, all training; see `data/train/README.md`)")


def write(folder: Path, reader: Any, digest: str) -> Path:
    """Write MODEL_CARD.md beside the artefact."""
    m = reader.meta
    kept = ("; the span head was kept from the reader before it (same sha256), everything else refitted"
            if m.get("span_head_kept") else "")
    cut = ("that the window model scores best (fitted on training articles the span head never saw)"
           if reader.windower is not None else "around the span")
    text = f"""# The trained reader

Files: `reader.json.gz` (sha256 `{digest}`){'' if reader.combiner is None else f", `span-head.safetensors` (sha256 `{m.get('span_head_sha256')}`)"}.
Rebuilt by `assistant train-reader{' --keep-span-head' if m.get('span_head_kept') else ''}` on {m.get('trained')} in {m.get('train_seconds')} s (2 CPU cores){kept}.

**Design shipped: {m.get('design')}** — the design with the best dev fact accuracy among those that ship as plain
numbers (design B's trees would need a pickle), each design at its own refusal threshold: the one that maximises fact
accuracy plus refusal recall on the unanswerable twins while refusing at most 3 % of dev's answerable questions.
Refusal threshold {reader.threshold:.3f} on the calibrated probability that the answer holds the fact (chosen on dev);
sentences up to {reader.whole_words} words are quoted whole, longer ones cut to the run of {reader.window_words} words {cut}.

## Data

Trained on {', '.join(m.get('data', []))} (SQuAD v1.1 format): XQuAD-ar (CC BY-SA 4.0, Artetxe et al., ACL 2020),
ARCD train (MIT, Mozannar et al., WANLP 2019){_own_data(m.get('data', []))}. Split by article, never by question:
XQuAD-ar's held-out articles are drawn with `random.Random({m.get('heldout_seed')}).sample(range(48), 8)` (positions in
the file) and never used for training, tuning or design choice; dev is 8 more XQuAD articles
(`random.Random({m.get('dev_seed')})`) and a fifth of ARCD's articles. Questions: {m.get('questions')}. Every question
is also asked as its SQuAD 2.0 style unanswerable twin: retrieval over all {m.get('paragraphs_indexed')} paragraphs with
every paragraph holding its answer left out.
The article suite (`evals/article.yaml`) was never used for training or tuning.

## Figures

Per question, over the retrieval the assistant really runs (hybrid BM25 + e5, top 5 chunks, the chunks of their
paragraphs as candidates). `sentence_choice`: the chosen sentence holds the gold answer; `fact_accuracy`: the quoted
answer holds it and was not refused; `span_em`/`span_f1`: the short answer against the gold answers;
`answerable_refused`: answerable questions refused; `twin_refusal_recall`: twins refused; `near_refusal_recall`: near misses
refused (the answerable retrieval with every sentence holding the answer taken out); `words_mean`: words per
answer given; `ece`: expected calibration error of the answer probability (10 bins), twins included.

### Dev (used to choose)

{table_markdown(m.get('figures', {}), 'dev')}
### Held-out XQuAD-ar articles (reported once per design)

{table_markdown(m.get('figures', {}), 'heldout')}
"""
    path = folder / "MODEL_CARD.md"
    path.write_text(text, encoding="utf-8")
    return path
