"""Training and evaluation data for the reader: SQuAD-format files, split by article, never by question.

XQuAD-ar has 48 articles. ``HELDOUT_SEED`` draws 8 of them (``random.Random(7).sample(range(48), 8)``, by
position in the file) that no training, tuning or design choice ever sees; ``DEV_SEED`` draws 8 of the other
40 for choosing designs and thresholds. Every other article, and every ARCD article but a dev share drawn the
same way, is training data.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

HELDOUT_SEED = 7
HELDOUT_ARTICLES = 8
DEV_SEED = 8
DEV_ARTICLES = 8
ARCD_DEV_SHARE = 0.2  # also the dev share of any other file but the project's news training articles
# The project's own news-style training articles (data/train/README.md): all training when given to train-reader (not
# by default: the reader trained with them was not better on dev), as news dev data has articles of its own in evals/dev/
NEWS_TRAIN = Path("data/train/news-train.json")


@dataclass(frozen=True)
class Question:
    """One SQuAD question with its gold answers, tied to its paragraph and article."""

    qid: str
    question: str
    answers: tuple[str, ...]
    answer_starts: tuple[int, ...]
    paragraph_key: str  # the paragraph's source id: "<file>-<article>-<paragraph>"
    article_key: str


@dataclass(frozen=True)
class Paragraph:
    """One SQuAD context, a source of its own."""

    key: str
    article_key: str
    title: str
    text: str


def _squash(context: str) -> str:
    return re.sub(r"\s*\n\s*", " ", context).strip()


def load(path: Path, tag: str) -> tuple[list[Paragraph], list[Question]]:
    """Paragraphs and answerable questions of a SQuAD v1.1-format file (``tag`` prefixes every key)."""
    data = json.loads(Path(path).read_text(encoding="utf-8-sig"))["data"]
    paragraphs: list[Paragraph] = []
    questions: list[Question] = []
    for a_no, article in enumerate(data):
        akey = f"{tag}-{a_no:03d}"
        title = str(article.get("title") or akey).replace("_", " ")
        for p_no, para in enumerate(article["paragraphs"]):
            raw = para["context"]
            text = _squash(raw)
            pkey = f"{akey}-{p_no:03d}"
            paragraphs.append(Paragraph(pkey, akey, f"{title} ({p_no + 1})", text))
            for q_no, qa in enumerate(para.get("qas", [])):
                answers = [a for a in qa.get("answers", []) if str(a.get("text", "")).strip()]
                if qa.get("is_impossible") or not answers:
                    continue
                texts = tuple(dict.fromkeys(str(a["text"]).strip() for a in answers))
                starts = tuple(_squashed_start(raw, text, a) for a in answers)
                questions.append(Question(str(qa.get("id") or f"{pkey}-{q_no}"), qa["question"].strip(), texts,
                                          starts, pkey, akey))
    return paragraphs, questions


def _squashed_start(raw: str, text: str, ans: dict) -> int:
    """The answer's offset in the squashed context (-1 when it cannot be placed)."""
    a = str(ans["text"]).strip()
    s = ans.get("answer_start")
    if isinstance(s, int) and raw[s:s + len(ans["text"])].strip() == a:
        prefix = _squash(raw[:s] + "\x00").rstrip("\x00")
        guess = len(prefix) if prefix == "" or raw[:s].rstrip() == raw[:s] else len(prefix) + 1
        for cand in (guess, guess - 1, guess + 1):
            if 0 <= cand and text[cand:cand + len(a)] == a:
                return cand
    return text.find(a)


def xquad_split(n_articles: int = 48) -> tuple[list[int], list[int]]:
    """(held-out, dev) XQuAD article positions, drawn by the documented seeds."""
    heldout = sorted(random.Random(HELDOUT_SEED).sample(range(n_articles), HELDOUT_ARTICLES))
    rest = [i for i in range(n_articles) if i not in heldout]
    dev = sorted(random.Random(DEV_SEED).sample(rest, DEV_ARTICLES))
    return heldout, dev


def arcd_dev(n_articles: int) -> list[int]:
    """ARCD article positions kept for dev."""
    k = max(1, round(n_articles * ARCD_DEV_SHARE))
    return sorted(random.Random(DEV_SEED).sample(range(n_articles), k))
