"""The span head on ONNX Runtime: the trained reader answers without importing torch.

The span head is e5-small with its top layers retrained and a start/end layer. Run by torch it needs torch,
transformers and the whole model in memory beside the ONNX embedder (about 15 s more for a fresh process's first
answer and 600 MB). Exported once per span head (keyed by its sha256) to an ONNX graph whose weights sit in an
external file that ONNX Runtime maps into memory, it opens in well under a second and only the layers and the
embedding rows it reads become resident. The export needs torch once; answering never does.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .spanscore import MAX_TOKENS, PASSAGE_PREFIX, SpanScore, best_spans, clean_question

Progress = Callable[[str], None]

SPAN_ONNX, SPAN_DATA = "span.onnx", "span.onnx.data"
PAD_ID = 1  # XLM-R's <pad>
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
    """The span head ready to score sentences, on ONNX Runtime with the ``tokenizers`` library (no torch)."""

    def __init__(self, onnx_path: Path, tokenizer_json: Path) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tokenizer_json))
        self._tokenizer.enable_truncation(MAX_TOKENS, strategy="only_second")
        self._tokenizer.no_padding()

    def score(self, question: str, sentences: Sequence[str]) -> list[SpanScore]:
        """Margin and best span of each sentence for the question."""
        if not sentences:
            return []
        q = clean_question(question)
        encs = self._tokenizer.encode_batch([(q, PASSAGE_PREFIX + s) for s in sentences])
        width = max(len(e.ids) for e in encs)
        ids = np.full((len(encs), width), PAD_ID, dtype=np.int64)
        mask = np.zeros((len(encs), width), dtype=np.int64)
        for r, e in enumerate(encs):
            ids[r, :len(e.ids)] = e.ids
            mask[r, :len(e.ids)] = 1
        start, end = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
        return best_spans(start, end, [e.offsets for e in encs], [e.sequence_ids for e in encs], sentences)


def onnx_span_reader(e5_folder: Path, state: dict, digest: str, cache_dir: Path, say: Progress) -> Any:
    """The span head on ONNX Runtime, exported first when this span head has not been yet."""
    return OnnxSpanReader(export_span_onnx(e5_folder, state, digest, cache_dir, say), Path(e5_folder) / "tokenizer.json")
