"""The span head on ONNX Runtime: the trained reader answers without importing torch.

The span head is e5-small with its top layers retrained and a start/end layer. Run by torch it needs torch,
transformers and the whole model in memory beside the ONNX embedder (about 15 s more for a fresh process's first
answer and 600 MB). Exported once per span head (keyed by its sha256) to an ONNX graph whose weights sit in an
external file, it opens in well under a second. Its session (``onnx_weights.py``) reads the word embeddings and
the bottom layers it shares with the embedder from the embedder's own mapped bytes, so a process holds them once;
only its retrained top layers and the embedding rows it reads add to memory. The export needs torch once;
answering never does.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ...onnx_embedding import ONNX_DIR, ONNX_NAME
from ...onnx_weights import session
from .spanscore import MAX_TOKENS, PASSAGE_PREFIX, SpanScore, best_spans, clean_question

Progress = Callable[[str], None]

SPAN_ONNX, SPAN_DATA = "span.onnx", "span.onnx.data"
PAD_ID = 1  # XLM-R's <pad>
MIN_SENTENCE_TOKENS = 16
PAIRS_PER_PASS = 4
OPSET = 17


def span_onnx_folder(cache_dir: Path, digest: str) -> Path:
    """Where the export of the span head with this sha256 lives."""
    return Path(cache_dir) / "reader-onnx" / digest[:16]


def export_span_onnx(e5_folder: Path, state: dict, digest: str, cache_dir: Path, say: Progress) -> Path:
    """The ONNX export of the span head (made once per span head, atomically); returns the graph's path."""
    target = span_onnx_folder(cache_dir, digest)
    if (target / SPAN_ONNX).is_file() and (target / SPAN_DATA).is_file():
        return target / SPAN_ONNX
    say("Exporting the reader's span head to ONNX Runtime (one time)...")
    import warnings

    import onnx
    import torch

    from .neural import load_base, shared_head

    base, _tok = load_base(e5_folder)
    head = shared_head(base, state).eval()
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(".span-*"):  # left by an export killed midway
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=".span-", dir=target.parent))
    try:
        ids = torch.ones(2, 8, dtype=torch.long)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on transformers' code: nothing a user can act on
            torch.onnx.export(head, (ids, ids), str(work / "traced.onnx"), input_names=["input_ids", "attention_mask"],
                              output_names=["start", "end"], opset_version=OPSET, dynamo=False,
                              dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                            "attention_mask": {0: "batch", 1: "tokens"},
                                            "start": {0: "batch", 1: "tokens"}, "end": {0: "batch", 1: "tokens"}})
        graph = onnx.load(str(work / "traced.onnx"))
        onnx.save_model(graph, str(work / SPAN_ONNX), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=SPAN_DATA, size_threshold=1024)
        (work / "traced.onnx").unlink()
        work.chmod(0o755)
        for f in work.iterdir():
            f.chmod(0o644)
        if target.exists():  # a broken export
            shutil.rmtree(target)
        os.replace(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target / SPAN_ONNX


class OnnxSpanReader:
    """The span head ready to score sentences, on ONNX Runtime with the ``tokenizers`` library (no torch).

    The XLM-R tokenizer costs about 290 MB of memory, so the reader borrows the embedder's instead of loading its
    own; it never changes that tokenizer's settings (the embedder may be encoding in another thread): it encodes
    question and sentence apart and joins them as XLM-R joins a pair, ``<s> A </s></s> B </s>``, cutting only the
    sentence to the head's token limit (what ``truncation="only_second"`` does)."""

    def __init__(self, onnx_path: Path, tokenizer: Any, base: Path | None = None) -> None:
        self._session = session(onnx_path, base)
        self._tokenizer = tokenizer
        self._bos, self._eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")

    def pairs(self, question: str, sentences: Sequence[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]],
                                                                      list[list[int | None]]]:
        """Token ids, offsets (each in its own text) and sequence ids of every (question, sentence) pair."""
        q, *ss = self._tokenizer.encode_batch([clean_question(question), *(PASSAGE_PREFIX + s for s in sentences)],
                                              add_special_tokens=False)
        q_ids, q_offs = list(q.ids), list(q.offsets)
        if MAX_TOKENS - 4 - len(q_ids) < MIN_SENTENCE_TOKENS:  # a question so long that it would crowd out the sentence
            q_ids, q_offs = q_ids[:MAX_TOKENS - 4 - MIN_SENTENCE_TOKENS], q_offs[:MAX_TOKENS - 4 - MIN_SENTENCE_TOKENS]
        room = MAX_TOKENS - 4 - len(q_ids)
        ids, offs, seqs = [], [], []
        for e in ss:
            s_ids, s_offs = list(e.ids)[:room], list(e.offsets)[:room]
            ids.append([self._bos, *q_ids, self._eos, self._eos, *s_ids, self._eos])
            offs.append([(0, 0), *q_offs, (0, 0), (0, 0), *s_offs, (0, 0)])
            seqs.append([None, *([0] * len(q_ids)), None, None, *([1] * len(s_ids)), None])
        return ids, offs, seqs

    def score(self, question: str, sentences: Sequence[str]) -> list[SpanScore]:
        """Margin and best span of each sentence for the question."""
        if not sentences:
            return []
        rows, offs, seqs = self.pairs(question, sentences)
        # a few pairs a pass, of like lengths: ONNX Runtime keeps its largest working buffers for the process's
        # life, and one pass over six long pairs padded to the longest would hold them at their largest
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        width = max(len(r) for r in rows)
        start = np.zeros((len(rows), width), dtype=np.float32)
        end = np.zeros((len(rows), width), dtype=np.float32)
        for k in range(0, len(order), PAIRS_PER_PASS):
            part = order[k:k + PAIRS_PER_PASS]
            w = max(len(rows[i]) for i in part)
            ids = np.full((len(part), w), PAD_ID, dtype=np.int64)
            mask = np.zeros((len(part), w), dtype=np.int64)
            for r, i in enumerate(part):
                ids[r, :len(rows[i])] = rows[i]
                mask[r, :len(rows[i])] = 1
            st, en = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
            for r, i in enumerate(part):
                start[i, :w], end[i, :w] = st[r], en[r]
        return best_spans(start, end, offs, seqs, sentences)


def onnx_span_reader(e5_folder: Path, state: dict, digest: str, cache_dir: Path, say: Progress,
                     tokenizer: Any = None) -> Any:
    """The span head on ONNX Runtime, exported first when this span head has not been yet; ``tokenizer``: the
    embedder's XLM-R tokenizer to share (else one is loaded)."""
    if tokenizer is None:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(Path(e5_folder) / "tokenizer.json"))
    return OnnxSpanReader(export_span_onnx(e5_folder, state, digest, cache_dir, say), tokenizer,
                          Path(e5_folder) / ONNX_DIR / ONNX_NAME)
