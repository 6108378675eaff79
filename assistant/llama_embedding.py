"""A plain encoder seen as a llama-index embedding, for the ingestion pipeline only.

Kept apart from the encoders so that importing them (the question path) never imports llama-index.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr


class EncoderEmbedding(BaseEmbedding):
    """An encoder with ``get_query_embedding`` and ``get_text_embedding_batch`` as a llama-index ``BaseEmbedding``."""

    _enc: Any = PrivateAttr()

    def __init__(self, enc: Any) -> None:
        super().__init__(model_name=enc.model_name, embed_batch_size=enc.embed_batch_size)
        self._enc = enc

    @classmethod
    def class_name(cls) -> str:
        return "OnnxE5Embedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._enc.get_query_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._enc.get_text_embedding(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._enc.get_text_embedding_batch(texts)


def pipeline_embedding(embed: Any) -> BaseEmbedding:
    """``embed`` as llama-index's ingestion pipeline takes it: itself when it is a ``BaseEmbedding`` already."""
    return embed if isinstance(embed, BaseEmbedding) else EncoderEmbedding(embed)
