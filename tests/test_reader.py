"""The trained reader: its artefact, its fallback, its spans, and the answers people get from it."""

from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import ARTICLE, make_settings

from assistant.readers.trained import model as reader_model
from assistant.readers.trained.features import IDF, Candidate, Question, sentence_matrix, SENTENCE_FEATURES
from assistant.readers.trained.spans import TOKEN, candidate_spans, exact, f1, gold_span, tokens

THREE_PARAGRAPHS = """---
title: جمعية أصدقاء البيئة
---
تأسست جمعية أصدقاء البيئة في مدينة فاس سنة 1998، وهي تعمل منذ ذلك الحين على حماية الغابات والمياه في جهة فاس مكناس.

ويبلغ عدد أعضاء الجمعية اليوم 450 عضوًا موزعين على خمس مدن مغربية، أغلبهم من الطلبة والأساتذة.

وتنظم الجمعية في كل ربيع حملة لغرس الأشجار في ضواحي المدينة بمشاركة المدارس والسكان.
"""

LIBRARY_MUSEUM = """---
title: الحي الثقافي
---
افتُتح متحف الفنون الحديثة في الحي القديم سنة 2010، ويضم المتحف أكثر من ثلاثة آلاف لوحة لفنانين من المغرب والعالم.
أما المكتبة المجاورة للمتحف فتحمل اسم مكتبة ابن رشد، وتضم رفوفها مئة ألف كتاب ومخطوط.
"""

LONG_SENTENCE = """---
title: مهرجان الفيلم
---
واختتمت مساء السبت بمدينة طنجة فعاليات الدورة الخامسة عشرة لمهرجان الفيلم المتوسطي القصير، التي عرفت مشاركة مخرجين وممثلين ونقاد من ضفتي المتوسط، وتنافست فيها أفلام من اثنتي عشرة دولة على جوائز المهرجان، وقد عادت الجائزة الكبرى في ختام هذه الدورة إلى فيلم «ظل البحر» للمخرجة التونسية سلمى بن علي.
"""


# ------------------------------------------------------------------ artefact, without the model


def test_shipped_artefact_is_verified_small_and_documented() -> None:
    folder = reader_model.ARTEFACT_DIR
    total = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    assert total <= 25 * 1024 * 1024
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    digest = (folder / "reader.json.gz.sha256").read_text(encoding="utf-8").split()[0]
    assert digest in card and "held-out" in card.lower()
    r = reader_model.load()
    assert 0.0 < r.threshold < 1.0
    assert r.meta["figures"] and r.meta["questions"]["heldout"] > 0


def test_corrupt_or_missing_artefact_is_refused_with_its_reason(tmp_path: Path) -> None:
    for f in reader_model.ARTEFACT_DIR.iterdir():
        shutil.copy(f, tmp_path / f.name)
    art = tmp_path / reader_model.ARTEFACT.name
    data = bytearray(art.read_bytes())
    data[len(data) // 2] ^= 0xFF
    art.write_bytes(bytes(data))
    with pytest.raises(reader_model.ReaderUnavailable) as exc:
        reader_model.load(art)
    assert exc.value.key == "reader_corrupt"
    with pytest.raises(reader_model.ReaderUnavailable) as exc:
        reader_model.load(tmp_path / "nothing-here.json.gz")
    assert exc.value.key == "reader_missing"


def test_incompatible_artefact_is_refused(tmp_path: Path) -> None:
    d = json.loads(gzip.decompress(reader_model.ARTEFACT.read_bytes()))
    d["sentence"]["names"] = d["sentence"]["names"][:-1]
    p = tmp_path / "reader.json.gz"
    p.write_bytes(gzip.compress(json.dumps(d).encode()))
    with pytest.raises(reader_model.ReaderUnavailable) as exc:
        reader_model.load(p)
    assert exc.value.key in {"reader_incompatible", "reader_corrupt"}


def test_missing_reader_falls_back_to_rules_and_says_so(article_home: Path, tmp_path: Path) -> None:
    from assistant.ingest import sync
    from assistant.service import Assistant

    s = make_settings(article_home, reader="trained", reader_path=tmp_path / "gone.json.gz")
    sync(s)
    a = Assistant(s).ask("كم عدد الدول التي شاركت في الجمعية العامة؟")
    assert a.reader == "rules"
    assert "القارئ" in a.reader_note and "train-reader" in a.reader_note
    assert a.to_dict()["reader_note"] == a.reader_note


# ------------------------------------------------------------------ spans and features


def test_tokens_keep_offsets_into_marked_text() -> None:
    text = "انعقدت الدورةُ الثالثة والتسعون في مراكشَ سنة ٢٠٢٥."
    toks = tokens(text, 0, len(text))
    assert [text[t.start:t.end] for t in toks][1] == "الدورةُ"
    assert toks[-1].norm == "2025"
    spans = candidate_spans(toks)
    assert gold_span(toks, spans, ("مراكش",)) is not None
    assert all(TOKEN.fullmatch(text[t.start:t.end]) for t in toks)


def test_span_scores_follow_squad() -> None:
    assert exact("في مدينة مراكش", "في مدينة مراكش")
    assert f1("مدينة مراكش", "مراكش") == pytest.approx(2 / 3)
    assert f1("", "مراكش") == 0.0


def test_window_holds_the_span_and_stays_within_budget() -> None:
    r = replace(reader_model.load(), whole_words=10, window_words=6)
    text = " ".join(f"كلمة{i}" for i in range(40))
    c = Candidate("s", 1, 0, len(text), text, np.zeros(3, dtype=np.float32))
    toks = tokens(text, 0, len(text))
    span = (toks[30].start, toks[31].end)
    s, e = r.window(text, c, span)
    assert s <= span[0] and span[1] <= e
    assert len(tokens(text, s, e)) <= 6


def test_window_takes_in_the_rest_of_a_short_bracket_it_cuts() -> None:
    r = replace(reader_model.load(), whole_words=10, window_words=6)
    text = "كلمة0 كلمة1 كلمة2 كلمة3 كلمة4 كلمة5 كلمة6 كلمة7 كلمة8 (من 160 إلى 227 ميلا) كلمة9 كلمة10 كلمة11 كلمة12"
    c = Candidate("s", 1, 0, len(text), text, np.zeros(3, dtype=np.float32))
    toks = tokens(text, 0, len(text))
    s, e = r.window(text, c, (toks[8].start, toks[8].end))
    assert text[s:e].count("(") == text[s:e].count(")") == 1 and text[s:e].endswith("ميلا)")
    from assistant.readers.trained.windows import balanced

    inner = text.index("160")
    assert text[slice(*balanced(text, inner, len(text), 0, len(text)))].startswith("(من 160")
    long = "أ " + "(" + " ".join(f"w{i}" for i in range(20)) + ") ب ج د"
    cut = long.index("w15")
    assert balanced(long, cut, len(long), 0, len(long)) == (cut, len(long))  # a long bracket is left cut, not grown


def test_window_model_quotes_where_the_span_head_puts_the_answer() -> None:
    """A long sentence is cut where the span head's probability lies, not only around its single best span, and the
    short answer stays inside the quote."""
    from assistant.readers.trained.windows import WINDOW_FEATURES

    names = WINDOW_FEATURES
    coef = np.array([1.0 if n in ("start_mass", "end_mass") else 0.0 for n in names])
    windower = reader_model.Linear(names, np.zeros(len(names)), np.ones(len(names)), coef, 0.0)
    r = replace(reader_model.load(), whole_words=10, window_words=6, windower=windower)
    text = " ".join(f"كلمة{i}" for i in range(40))
    c = Candidate("s", 1, 0, len(text), text, np.zeros(3, dtype=np.float32))
    toks = tokens(text, 0, len(text))
    p_start, p_end = np.zeros(40), np.zeros(40)
    p_start[33], p_end[34] = 0.6, 0.6  # the mass sits at words 33-34 ...
    span = (toks[5].start, toks[5].end)  # ... while the single best span (word 5) is elsewhere
    s, e = r.window(text, c, span, "ما الكلمة؟", p_start, p_end)
    assert s <= toks[33].start and toks[34].end <= e and len(tokens(text, s, e)) <= 6
    ss, se = r.span_inside(Question.of("ما الكلمة؟"), text, span, (s, e), c, p_start, p_end)
    assert (ss, se) == (toks[33].start, toks[34].end)


def test_sentence_features_are_finite_and_named() -> None:
    q = Question.of("كم عدد الدول المشاركة؟")
    cands = [Candidate("s", 1, 0, 10, "شاركت 181 دولة في الجمعية العامة.", np.array([1.0, 0.0], dtype=np.float32), 0, 2),
             Candidate("s", 1, 11, 20, "انعقدت الدورة في مراكش.", np.array([0.0, 1.0], dtype=np.float32), 1, 2)]
    m = sentence_matrix(q, np.array([0.8, 0.6], dtype=np.float32), cands, IDF.fit(["شاركت دولة", "مراكش"]))
    assert m.shape == (2, len(SENTENCE_FEATURES)) and np.isfinite(m).all()



def test_near_miss_keeps_the_paragraph_without_the_answer_and_is_scored_apart() -> None:
    from assistant.readers.trained.dataset import Asked, near_miss
    from assistant.readers.trained.metrics import Decision, summarise

    q = Question.of("كم عدد الدول المشاركة؟")
    texts = ["انعقدت الدورة في مراكش.", "شاركت 181 دولة في الجمعية العامة.", "اختتمت الأشغال يوم الخميس."]
    cands = [Candidate("s", 1, 25 * i, 25 * i + 20, t, np.array([1.0, float(i)], dtype=np.float32), i, 3)
             for i, t in enumerate(texts)]
    idf = IDF.fit(texts)
    q_vec = np.array([0.8, 0.6], dtype=np.float32)
    a = Asked(cands, sentence_matrix(q, q_vec, cands, idf), np.array([0, 1, 0], dtype=np.int8), q_vec)
    near = near_miss(a, q, idf)
    assert near is not None and [c.text for c in near.cands] == [texts[0], texts[2]]
    assert [(c.position, c.siblings) for c in near.cands] == [(0, 2), (1, 2)] and not near.labels.any()
    assert cands[2].position == 2  # the answerable retrieval is left as it was
    assert near_miss(replace(a, labels=np.zeros(3, dtype=np.int8)), q, idf) is None  # nothing to take out
    d = [Decision(True, True, 0.9, True, True, 10, 1.0, 1.0), Decision(False, False, 0.1, False, False, 0, 0, 0),
         Decision(False, False, 0.8, True, False, 12, 0, 0, near=True)]
    s = summarise(d)
    assert (s["twin_refusal_recall"], s["near_refusal_recall"], s["unanswerable_refused"]) == (1.0, 0.0, 0.5)


# ------------------------------------------------------------------ answers, with the real model


@pytest.fixture(scope="module")
def own_docs_assistant(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Two documents of our own, indexed with e5-small, answered by the trained reader."""
    from assistant.ingest import sync
    from assistant.service import Assistant

    home = tmp_path_factory.mktemp("own")
    (home / "sources").mkdir()
    (home / "sources" / "environment.md").write_text(THREE_PARAGRAPHS, encoding="utf-8")
    (home / "sources" / "district.md").write_text(LIBRARY_MUSEUM, encoding="utf-8")
    (home / "sources" / "festival.md").write_text(LONG_SENTENCE, encoding="utf-8")
    s = make_settings(home, embed_model="e5-small", reader="trained")
    sync(s)
    return Assistant(s)


@pytest.mark.slow
def test_fact_in_a_second_paragraph_is_answered_from_it(own_docs_assistant) -> None:  # type: ignore[no-untyped-def]
    a = own_docs_assistant.ask("كم عدد أعضاء الجمعية؟")
    assert a.reader == "trained" and not a.refused
    assert a.citations[0].source_id == "environment" and a.citations[0].paragraph == 2
    assert "450" in a.text and a.short_answer is not None


@pytest.mark.slow
def test_library_question_is_answered_from_the_library_sentence(own_docs_assistant) -> None:  # type: ignore[no-untyped-def]
    a = own_docs_assistant.ask("ما اسم المكتبة المجاورة للمتحف؟")
    assert not a.refused and "ابن رشد" in a.citations[0].quote


@pytest.mark.slow
def test_fact_at_the_end_of_a_long_sentence_stays_in_the_quote(own_docs_assistant) -> None:  # type: ignore[no-untyped-def]
    a = own_docs_assistant.ask("ما الفيلم الذي فاز بالجائزة الكبرى للمهرجان؟")
    assert not a.refused and a.citations[0].source_id == "festival"
    assert "ظل البحر" in a.citations[0].quote and len(a.citations[0].quote.split()) <= 30
    sa = a.short_answer
    assert sa is not None and a.citations[0].start <= sa.start and sa.end <= a.citations[0].end


@pytest.mark.slow
def test_181_short_answer_has_exact_offsets(trained_assistant) -> None:  # type: ignore[no-untyped-def]
    a = trained_assistant.ask("كم عدد الدول التي شاركت في الجمعية العامة؟")
    assert a.reader == "trained" and not a.refused
    sa = a.short_answer
    assert sa is not None and "181" in sa.text
    src = trained_assistant.source(sa.source_id)
    assert src.text[sa.start:sa.end] == sa.text
    c = a.citations[0]
    assert c.start <= sa.start and sa.end <= c.end
    assert 0.0 <= a.confidence <= 1.0


@pytest.mark.slow
def test_llm_sentence_that_does_not_answer_is_dropped(trained_assistant) -> None:  # type: ignore[no-untyped-def]
    """A generated sentence copied from the source but answering something else does not stand."""
    from assistant.readers.llm import backed

    index, answerer = trained_assistant._load()
    q = "كم عدد الدول التي شاركت في الجمعية العامة؟"
    passages = index.search(q, k=5)
    extractive = answerer.answer(q, passages)
    assert extractive.reader == "trained" and not extractive.refused
    right = next(p for p in passages if "181" in p.text)
    assert backed(extractive, right)
    for wrong in (p for p in passages if "181" not in p.text):
        assert not backed(extractive, wrong), wrong.text[:60]


@pytest.mark.slow
def test_span_head_leaves_the_embedder_untouched(trained_assistant) -> None:  # type: ignore[no-untyped-def]
    """The span head borrows the embedder's bottom layers; the embedder must keep its own top layers."""
    from assistant.e5_small import E5_SMALL_DIRNAME
    from sentence_transformers import SentenceTransformer

    index, answerer = trained_assistant._load()
    assert answerer.reader.neural is not None
    text = "انعقدت الجمعية العامة للإنتربول في مراكش"
    shared = np.asarray(index.embed_model.get_query_embedding(text))
    fresh = SentenceTransformer(str(trained_assistant.settings.cache_dir / E5_SMALL_DIRNAME), device="cpu")
    ref = fresh.encode("query: " + text, normalize_embeddings=True)
    assert float(shared @ ref) > 0.9999


@pytest.mark.slow
def test_span_head_on_onnx_reads_like_torch(trained_assistant) -> None:  # type: ignore[no-untyped-def]
    """The exported span head gives the torch head's margins, spans and word probabilities."""
    from assistant.e5_small import E5_SMALL_DIRNAME
    from assistant.readers.trained.neural import load_base
    from assistant.readers.trained.onnx_span import OnnxSpanReader

    _, answerer = trained_assistant._load()
    onnx_head = answerer.reader.neural
    assert isinstance(onnx_head, OnnxSpanReader)
    torch_head = reader_model.attach(reader_model.load(),
                                     *load_base(trained_assistant.settings.cache_dir / E5_SMALL_DIRNAME)).neural
    q = "كم عدد الدول التي شاركت في الجمعية العامة؟"
    sentences = ["وشهدت هذه الدورة مشاركة غير مسبوقة من 181 دولة عضوًا في منظمة الإنتربول", "انعقدت الدورة في مراكش.",
                 " ".join(["كلمة"] * 300)]  # past the head's token limit: cut alike
    for a, b in zip(torch_head.score(q, sentences), onnx_head.score(q, sentences)):
        assert abs(a.margin - b.margin) < 1e-3 and (a.start, a.end) == (b.start, b.end)
        assert np.allclose(a.p_start, b.p_start, atol=1e-4) and np.allclose(a.p_end, b.p_end, atol=1e-4)


@pytest.mark.slow
def test_trained_reader_answers_without_torch(trained_assistant) -> None:  # type: ignore[no-untyped-def]
    """A fresh process answers with the trained reader without importing torch (its span head runs on ONNX)."""
    import os
    import subprocess
    import sys

    trained_assistant.ask("كم عدد الدول التي شاركت في الجمعية العامة؟")  # the one-time export is done by now
    s = trained_assistant.settings
    code = (
        "import sys\n"
        "from assistant.config import load_settings\n"
        "from assistant.service import build_assistant\n"
        f"s = load_settings(home={str(s.home)!r}, prompts_dir={str(s.prompts)!r}, cache_dir={str(s.cache_dir)!r}, "
        "embed_model='e5-small', reader='trained')\n"
        "a = build_assistant(s).ask('كم عدد الدول التي شاركت في الجمعية العامة؟')\n"
        "print(a.reader, '181' in a.short_answer.text, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["trained", "True", "False"]


def test_short_answer_of_a_date_takes_the_whole_date_and_drops_a_leading_fi() -> None:
    from assistant.readers.trained.spans import tidy_span

    text = "انعقدت الدورة بمدينة مراكش ما بين 24 و27 نونبر 2025، بحضور الوفود. وتأسست المنظمة في 1923 بفيينا."
    year = text.index("2025")
    s, e = tidy_span("date", text, (year, year + 4), (0, len(text)))
    assert text[s:e] == "24 و27 نونبر 2025"  # stops at the comma
    fi = text.index("في 1923")
    assert text[slice(*tidy_span("date", text, (fi, fi + 7), (0, len(text))))] == "1923"
    assert tidy_span("other", text, (fi, fi + 7), (0, len(text))) == (fi, fi + 7)  # other questions keep the span
    assert tidy_span("date", text, (year, year + 4), (0, year - 5)) == (year, year + 4)  # nothing outside the quote


def _span_and_base(assistant):  # type: ignore[no-untyped-def]
    from assistant.e5_small import E5_SMALL_DIRNAME
    from assistant.onnx_embedding import ONNX_DIR, ONNX_NAME
    from assistant.readers.trained.onnx_span import SPAN_ONNX, span_onnx_folder

    assistant.ask("كم عدد الدول التي شاركت في الجمعية العامة؟")  # both exports are done by now
    s = assistant.settings
    digest = str(assistant._load()[1].reader.meta.get("span_head_sha256", ""))
    return span_onnx_folder(s.cache_dir, digest) / SPAN_ONNX, s.cache_dir / E5_SMALL_DIRNAME / ONNX_DIR / ONNX_NAME


@pytest.mark.slow
def test_span_head_reads_the_embedders_own_bytes_for_what_it_did_not_train(trained_assistant) -> None:  # type: ignore[no-untyped-def]
    """The word embeddings and the untrained bottom layers are held once a process: the span head's session is
    given the embedder's tensors (the same memory), its retrained top layers its own."""
    from assistant import onnx_weights
    from assistant.readers.trained.neural import TRAINED_LAYERS

    span, base = _span_and_base(trained_assistant)
    same = onnx_weights.aliases(span, base)
    assert same["bert.embeddings.word_embeddings.weight"] == "bert.embeddings.word_embeddings.weight"
    layers = {int(n.split(".")[3]) for n in same if n.startswith("bert.encoder.layer.")}
    assert layers == set(range(12 - TRAINED_LAYERS))
    mine, theirs = onnx_weights.weights(span, base), onnx_weights.weights(base)
    assert all(mine[n].data_ptr() == theirs[b].data_ptr() for n, b in same.items())
    assert all(mine[n].data_ptr() not in {v.data_ptr() for v in theirs.values()} for n in mine if n not in same)


@pytest.mark.slow
def test_a_stale_or_garbled_shared_weights_table_is_found_again(trained_assistant, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The table of shared tensors is a cache: garbled, it is rebuilt by content; an entry that pairs tensors of
    different shapes is never believed."""
    from assistant import onnx_weights

    span, base = _span_and_base(trained_assistant)
    right = onnx_weights.aliases(span, base)
    shutil.copy(span, tmp_path / span.name)
    (tmp_path / (span.name + ".data")).symlink_to(span.with_name(span.name + ".data"))
    copy = tmp_path / span.name
    (tmp_path / onnx_weights.ALIASES).write_text("{not json", encoding="utf-8")
    assert onnx_weights.aliases(copy, base) == right
    saved = json.loads((tmp_path / onnx_weights.ALIASES).read_text(encoding="utf-8"))
    saved["tensors"]["bert.encoder.layer.11.output.dense.weight"] = "bert.embeddings.word_embeddings.weight"
    (tmp_path / onnx_weights.ALIASES).write_text(json.dumps(saved), encoding="utf-8")
    assert onnx_weights.aliases(copy, base) == right


@pytest.mark.slow
def test_reader_path_may_name_the_folder_train_reader_wrote(trained_assistant, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`ASSISTANT_READER_PATH` set to the folder of `train-reader --out DIR` loads the reader in it (not the rules)."""
    from assistant.readers.trained.model import ARTEFACT
    from assistant.service import Assistant

    for f in ARTEFACT.parent.iterdir():
        shutil.copy(f, tmp_path / f.name)
    s = trained_assistant.settings.model_copy(update={"reader_path": tmp_path})
    a = Assistant(s).ask("كم عدد الدول التي شاركت في الجمعية العامة؟")
    assert a.reader == "trained" and not a.reader_note
    assert "181" in a.short_answer.text


def test_keep_span_head_takes_the_shipped_layers_as_trainable_tensors() -> None:
    """`train-reader --keep-span-head` reuses the shipped span head: the same tensors, as torch tensors that
    `attach` builds the head from (and that `save` writes back byte for byte)."""
    import numpy as np
    import torch

    from assistant.readers.trained.train import _shipped_span_head

    shipped = reader_model.load().neural_state
    kept = _shipped_span_head()
    assert set(kept) == set(shipped) and any(k.startswith("qa.") for k in kept)
    for k, v in kept.items():
        assert isinstance(v, torch.Tensor) and v.dtype == torch.float16
        assert np.array_equal(v.numpy(), shipped[k])
