"""e5-small on ONNX Runtime: the same vectors as the torch model, without importing torch on the question path.

Importing sentence-transformers (torch, transformers) costs a fresh process about 8 s and 300-400 MB before the
first question is embedded; ONNX Runtime (installed with Chroma) and the ``tokenizers`` library load the same
model in about 1 s. The ONNX graph (the BERT encoder, mean pooling and normalisation) is exported once from the
prepared e5-small folder with torch's exporter and kept beside it (``onnx/model.onnx``); its vectors match the
torch model's (cosine > 0.9999, checked in tests/test_embedding.py), so an index built by either answers either.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from .e5_small import E5_PASSAGE_PREFIX, E5_QUERY_PREFIX

Progress = Callable[[str], None]

ONNX_FILE = Path("onnx") / "model.onnx"
MAX_TOKENS = 512  # e5-small's position limit
PAD_ID = 1  # XLM-R's <pad>
OPSET = 17


def export_onnx(folder: Path, say: Progress) -> Path:
    """The ONNX export of the sentence-transformers e5 folder (made once, atomically, beside the weights)."""
    target = Path(folder) / ONNX_FILE
    if target.is_file():
        return target
    say("Exporting the embedding model to ONNX Runtime (one time)...")
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    bert = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".model-", suffix=".onnx.tmp", dir=target.parent)
    os.close(fd)
    try:
        ids = torch.ones(2, 8, dtype=torch.long)
        with torch.no_grad():
            torch.onnx.export(
                _pooled(bert), (ids, ids), tmp, input_names=["input_ids", "attention_mask"],
                output_names=["embedding"], opset_version=OPSET, dynamo=False,
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                              "embedding": {0: "batch"}},
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the model folder is readable like the weights beside it
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


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


class OnnxE5Embedding(BaseEmbedding):
    """multilingual-e5-small through ONNX Runtime, with e5's ``query:`` / ``passage:`` prefixes."""

    _session: Any = PrivateAttr()
    _tokenizer: Any = PrivateAttr()

    def __init__(self, folder: Path, onnx_path: Path, batch_size: int = 8, **kwargs: Any) -> None:
        super().__init__(model_name=str(folder), embed_batch_size=batch_size, **kwargs)
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()

    @classmethod
    def class_name(cls) -> str:
        return "OnnxE5Embedding"

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

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.encode([E5_QUERY_PREFIX + query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.encode([E5_PASSAGE_PREFIX + text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.encode([E5_PASSAGE_PREFIX + t for t in texts]).tolist()
