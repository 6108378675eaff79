"""e5-small on ONNX Runtime: the same vectors as the torch model, without importing torch on the question path.

Importing sentence-transformers (torch, transformers) costs a fresh process about 8 s and 300-400 MB before the
first question is embedded; ONNX Runtime (installed with Chroma) and the ``tokenizers`` library load the same
model in about 0.3 s. The ONNX graph (the BERT encoder, mean pooling and normalisation) is exported once from the
prepared e5-small folder with torch's exporter and kept beside it (``onnx/``); its vectors match the
torch model's (cosine > 0.9999, checked in tests/test_embedding.py), so an index built by either answers either.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .e5_small import E5_PASSAGE_PREFIX, E5_QUERY_PREFIX
from .onnx_weights import session

Progress = Callable[[str], None]

ONNX_DIR, ONNX_NAME, ONNX_DATA = "onnx", "model.onnx", "model.onnx.data"
MAX_TOKENS = 512  # e5-small's position limit
PAD_ID = 1  # XLM-R's <pad>
OPSET = 17


def export_onnx(folder: Path, say: Progress) -> Path:
    """The ONNX export of the sentence-transformers e5 folder (made once, atomically, beside the weights).

    The weights go to an external data file that is mapped into memory (``onnx_weights.py``) instead of copied: the session
    opens in about 0.2 s and only the rows of the 250k-word embedding table that questions use become resident
    (about 150 MB for the model instead of 770 MB)."""
    target = Path(folder) / ONNX_DIR
    if (target / ONNX_NAME).is_file() and (target / ONNX_DATA).is_file():
        return target / ONNX_NAME
    say("Exporting the embedding model to ONNX Runtime (one time)...")
    import onnx
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    bert = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    for stale in Path(folder).glob(".onnx-*"):  # left by an export killed midway (an hour is far past its time)
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=".onnx-", dir=folder))
    try:
        ids = torch.ones(2, 8, dtype=torch.long)
        with torch.no_grad():
            torch.onnx.export(
                _pooled(bert), (ids, ids), str(work / "traced.onnx"), input_names=["input_ids", "attention_mask"],
                output_names=["embedding"], opset_version=OPSET, dynamo=False,
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                              "embedding": {0: "batch"}},
            )
        graph = onnx.load(str(work / "traced.onnx"))
        onnx.save_model(graph, str(work / ONNX_NAME), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=ONNX_DATA, size_threshold=1024)
        (work / "traced.onnx").unlink()
        work.chmod(0o755)  # mkdtemp makes it private; the model folder is readable like the weights beside it
        for f in work.iterdir():
            f.chmod(0o644)
        if target.exists():  # an older or broken export
            shutil.rmtree(target)
        os.replace(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target / ONNX_NAME


def _pooled(bert: Any) -> Any:
    """BERT, mean pooling over the real tokens, then L2 normalisation: sentence-transformers' e5 pipeline."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    return Pooled()


class OnnxE5:
    """multilingual-e5-small through ONNX Runtime, with e5's ``query:`` / ``passage:`` prefixes.

    A plain class, not a llama-index ``BaseEmbedding``: importing llama-index costs a fresh process about a second
    that a cold CLI answer does not need. Ingest wraps it (`llama_embedding.py`) for llama-index's pipeline."""

    def __init__(self, folder: Path, onnx_path: Path, batch_size: int = 8) -> None:
        from tokenizers import Tokenizer

        self.model_name, self.embed_batch_size = str(folder), batch_size
        self._session = session(onnx_path)
        # about 290 MB in memory: the trained reader borrows it (``tokenizer``) and never changes these settings
        self._tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()

    @property
    def tokenizer(self) -> Any:
        """The XLM-R tokenizer (``tokenizers.Tokenizer``), for a reader on the same vocabulary to share."""
        return self._tokenizer

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of ``texts`` (prefixes included by the caller), one forward pass per batch of like lengths."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        encoded = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
        rows: dict[int, np.ndarray] = {}
        for k in range(0, len(order), self.embed_batch_size):
            part = order[k:k + self.embed_batch_size]
            width = max(len(encoded[i].ids) for i in part)
            ids = np.full((len(part), width), PAD_ID, dtype=np.int64)
            mask = np.zeros((len(part), width), dtype=np.int64)
            for r, i in enumerate(part):
                n = len(encoded[i].ids)
                ids[r, :n] = encoded[i].ids
                mask[r, :n] = 1
            vecs = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            rows.update(zip(part, vecs))
        return np.stack([rows[i] for i in range(len(texts))]).astype(np.float32)

    def query_embeddings(self, queries: list[str]) -> list[list[float]]:
        """Many questions' vectors in batched passes (evaluation and training runs)."""
        return self.encode([E5_QUERY_PREFIX + q for q in queries]).tolist()

    def get_query_embedding(self, query: str) -> list[float]:
        """One question's vector."""
        return self.encode([E5_QUERY_PREFIX + query])[0].tolist()

    def get_text_embedding(self, text: str) -> list[float]:
        """One passage's vector."""
        return self.encode([E5_PASSAGE_PREFIX + text])[0].tolist()

    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False) -> list[list[float]]:
        """Passages' vectors, batched."""
        return self.encode([E5_PASSAGE_PREFIX + t for t in texts]).tolist()
