"""Test backends, registered when this module is imported (conftest imports it; a subprocess names it in
``ASSISTANT_PLUGINS=fakes`` with ``tests/`` on ``PYTHONPATH``).

``hash``: a tiny deterministic embedding (hashed stemmed words and character trigrams) for fast tests. It is
also the example of adding a backend: one class and one ``register_embedder`` call.
"""

from __future__ import annotations

import hashlib

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding

from assistant import arabic
from assistant.backends import register_embedder


class HashEmbedding(BaseEmbedding):
    """Bag of hashed features, L2-normalised: similar wording gives similar vectors; no model needed."""

    dim: int = 256

    @classmethod
    def class_name(cls) -> str:
        """Name used by llama-index serialisation."""
        return "HashEmbedding"

    def _vector(self, text: str) -> list[float]:
        vec = np.zeros(self.dim, dtype=np.float32)
        feats = arabic.analyze(text)
        feats += [w[i:i + 3] for w in arabic.words(text) for i in range(max(1, len(w) - 2))]
        for f in feats:
            h = int.from_bytes(hashlib.blake2b(f.encode("utf-8"), digest_size=8).digest(), "little")
            vec[h % self.dim] += 1.0 if (h >> 63) == 0 else -1.0
        norm = float(np.linalg.norm(vec)) or 1.0
        return (vec / norm).tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)


register_embedder("hash", lambda spec, cache_dir, say: HashEmbedding())
