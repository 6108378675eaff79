"""Evaluation suites that bring their own documents: ``documents:``, ``exclude_sources``, the committed
held-out XQuAD-ar set, ``--distractors`` and the eval index cache (hash embedding, offline, fast)."""

from __future__ import annotations

import json
import os
import re
from argparse import Namespace
from pathlib import Path

import pytest

from assistant import arabic, evals
from assistant.evals import EvalSetError

from conftest import ROOT, make_settings

SQUAD = Path(__file__).resolve().parent / "fixtures" / "squad_ar_small.json"
XQUAD_SET = ROOT / "evals" / "xquad-heldout.yaml"
XQUAD_DOCS = ROOT / "evals" / "xquad-ar"
N_NEWS_TRAIN_ARTICLES = 12  # data/train/news-train.json
XQUAD_JSON = ROOT / "tests" / "fixtures" / "xquad" / "xquad.ar.json"  # a copy of ../shared/data/xquad.ar.json (CC BY-SA 4.0)

DOCS = {
    "marrakech.md": "---\ntitle: مراكش\n---\nانعقدت الجمعية العامة للإنتربول في مدينة مراكش سنة 2025 بمشاركة 181 دولة.\n",
    "rabat.md": "---\ntitle: الرباط\n---\nالرباط عاصمة المملكة المغربية وتقع على ساحل المحيط الأطلسي عند مصب نهر أبي رقراق.\n",
    "fes.md": "---\ntitle: فاس\n---\nتشتهر مدينة فاس بجامعة القرويين وهي من أقدم الجامعات في العالم وأسواقها العتيقة.\n",
}

SET = """\
name: mini-docs
documents: docs
items:
  - id: a1
    question: "أين انعقدت الجمعية العامة للإنتربول؟"
    answerable: true
    facts: ["مراكش"]
    citation: {source: marrakech, paragraph: 1}
  - id: a1-twin
    question: "أين انعقدت الجمعية العامة للإنتربول؟"
    answerable: false
    facts: []
    citation: null
    exclude_sources: [marrakech]
  - id: a2-twin
    question: "كم دولة شاركت في الجمعية العامة للإنتربول في مراكش؟"
    answerable: false
    facts: []
    citation: null
    exclude_sources: [marrakech, fes]
"""


def _args(**kw):  # type: ignore[no-untyped-def]
    base = dict(sets=[], squad=None, limit=None, compare=False, no_gate=False, distractors=None)
    base.update(kw)
    return Namespace(**base)


def _docs_set(tmp_path: Path, body: str = SET) -> Path:
    folder = tmp_path / "set" / "docs"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "README.md").write_text("# not a document\n", encoding="utf-8")
    path = tmp_path / "set" / "set.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def _settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Hash embedding, a home in tmp_path and an eval index cache of its own."""
    return make_settings(tmp_path / "home").replace(cache_dir=tmp_path / "cache")


def _report(tmp_path: Path) -> dict:
    (jpath,) = (tmp_path / "home" / "evals" / "reports").glob("*.json")
    return json.loads(jpath.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------ documents + exclude


def test_documents_folder_and_exclude_sources_are_loaded(tmp_path: Path) -> None:
    s = evals.load_set(_docs_set(tmp_path))
    assert s.documents_dir == (tmp_path / "set" / "docs").resolve()
    assert sorted(p.name for p in s.source_files) == sorted(DOCS)  # README.md is not a document
    items = {i.id: i for i in s.items}
    assert items["a1"].exclude_sources == ()
    assert items["a1-twin"].exclude_sources == ("marrakech",)
    assert items["a2-twin"].exclude_sources == ("marrakech", "fes")


@pytest.mark.parametrize("change, expected", [
    (("documents: docs", "documents: nowhere"), "documents folder 'nowhere' does not exist"),
    (("documents: docs", "documents: [docs]"), "'documents' must be a folder"),
    (("documents: docs", "documents: docs\nsources: docs"), "use either 'sources'"),
    (("exclude_sources: [marrakech]", "exclude_sources: marrakech"), "(id a1-twin): 'exclude_sources' must be a list"),
    (("exclude_sources: [marrakech]", "exclude_sources: [marrakech, 3]"), "'exclude_sources' must be a list of source ids"),
    (("exclude_sources: [marrakech]", "exclude_sources: [marrakech, marrakech]"), "lists a source id twice"),
    (("exclude_sources: [marrakech]", "exclude_sources: [tangier]"), "item 'a1-twin' names source(s) not in"),
    (("citation: {source: marrakech, paragraph: 1}", "citation: {source: marrakech, paragraph: 1}\n"
      "    exclude_sources: [marrakech]"), "(id a1): 'exclude_sources' leaves out the cited source 'marrakech'"),
    (("source: marrakech,", "source: casablanca,"), "item 'a1' names source(s) not in"),
])
def test_documents_and_exclude_sources_validation(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    path = _docs_set(tmp_path, SET.replace(*change, 1))
    with pytest.raises(EvalSetError) as err:
        evals.load_set(path)
    assert expected in str(err.value) and str(path) in str(err.value)


def test_empty_documents_folder_is_refused(tmp_path: Path) -> None:
    path = _docs_set(tmp_path)
    for name in DOCS:
        (path.parent / "docs" / name).unlink()
    with pytest.raises(EvalSetError, match="holds no source files"):
        evals.load_set(path)


def test_excluded_sources_are_never_retrieved_or_cited(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = _settings(tmp_path)
    assert evals.run_cli(settings, _args(sets=[_docs_set(tmp_path)])) == 0
    assert "mini-docs: 3 items" in capsys.readouterr().out
    report = _report(tmp_path)
    items = {r["id"]: r for r in report["items"]}
    assert items["a1"]["exclude_sources"] == [] and items["a1"]["retrieved"][0] == "marrakech#1"
    for rid in ("a1-twin", "a2-twin"):
        r = items[rid]
        assert r["exclude_sources"] and r["retrieved"]  # other documents were searched
        excluded = set(r["exclude_sources"])
        assert not excluded & {x.split("#")[0] for x in r["retrieved"]}
        assert not excluded & {c["source_id"] for c in r["citations"]}
    # the same through the chat's own path, question by question, on the index the run built and cached
    from assistant.service import Assistant

    (folder,) = [p for p in (tmp_path / "cache" / "eval-index").iterdir() if not p.name.startswith(".")]
    assistant = Assistant(evals._eval_settings(settings, folder))
    for q in ("أين انعقدت الجمعية العامة للإنتربول؟", "مراكش 2025 181 دولة", "ما عاصمة المملكة المغربية؟"):
        for excluded in (["marrakech"], ["rabat", "marrakech"], ["fes", "rabat", "marrakech"]):
            answer = assistant.ask(q, exclude_sources=excluded)
            assert not {p.source_id for p in answer.passages} & set(excluded)
            assert not {c.source_id for c in answer.citations} & set(excluded)


def test_exclude_sources_must_name_indexed_sources(tmp_path: Path) -> None:
    body = SET.replace("documents: docs\n", "")
    path = tmp_path / "set.yaml"
    path.write_text(body, encoding="utf-8")
    home = tmp_path / "home"
    make_settings(home)
    (home / "sources" / "marrakech.md").write_text(DOCS["marrakech.md"], encoding="utf-8")
    settings = make_settings(home).replace(cache_dir=tmp_path / "cache")
    with pytest.raises(EvalSetError, match="exclude_sources names source.s. that are not indexed: fes"):
        evals.run_set(settings, evals.load_set(path))


# ------------------------------------------------------------------------------- the XQuAD suite


def _words(text: str) -> str:
    return " ".join(arabic.words(text))


HELDOUT = [3, 4, 6, 9, 20, 25, 34, 41]  # assistant.readers.trained.data.xquad_split()[0]


def test_committed_xquad_heldout_set_is_sound() -> None:
    from assistant.sources import read_source

    s = evals.load_set(XQUAD_SET)
    assert s.name == "xquad-heldout" and s.documents_dir == XQUAD_DOCS.resolve()
    texts = {p.stem: read_source(p).text for p in s.source_files}
    assert len(texts) == 240 and all(re.fullmatch(r"xquad-\d{3}-\d{3}", k) for k in texts)
    assert all(len(arabic.paragraph_spans(t)) == 1 for t in texts.values())  # one paragraph each: "paragraph 1"
    words = {k: _words(t) for k, t in texts.items()}
    answerable = [i for i in s.items if i.answerable]
    twins = {i.id: i for i in s.items if not i.answerable}
    assert len(answerable) == 193 and len(twins) == 193
    assert {int(i.source.split("-")[1]) for i in answerable} == set(HELDOUT)
    for item in answerable:
        (alts,) = item.facts
        assert item.paragraph == 1 and item.tags[0] == "xquad"
        assert any(arabic.contains_fact(texts[item.source], a) for a in alts), item.id
        twin = twins[f"{item.id}-twin"]
        assert twin.question == item.question and twin.tags == ("xquad", "twin")
        holders = {k for k in texts
                   if any(" ".join(arabic.words(a))[1:] in words[k] and arabic.contains_fact(texts[k], a) for a in alts)}
        assert item.source in twin.exclude_sources
        assert holders <= set(twin.exclude_sources), (twin.id, holders - set(twin.exclude_sources))
    thresholds = evals.load_thresholds(ROOT / "evals" / "thresholds.yaml")
    assert set(thresholds["xquad-heldout"]) == {"hit_at_1", "fact_accuracy", "citation_accuracy", "refusal_precision",
                                                "refusal_recall", "answer_words_mean", "latency_p95_ms"}
    assert "CC BY-SA 4.0" in (XQUAD_DOCS / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name, n_items, n_unanswerable", [("news-dev", 78, 21), ("news-followups-dev", 36, 6)])
def test_committed_news_dev_sets_are_sound(name: str, n_items: int, n_unanswerable: int) -> None:
    """The news-style dev sets: every fact in its cited paragraph, unanswerables cite nothing, never gated."""
    from assistant.sources import read_source

    s = evals.load_set(ROOT / "evals" / "dev" / f"{name}.yaml")
    assert s.name == name and s.documents_dir == (ROOT / "evals" / "dev" / "news").resolve()
    texts = {p.stem: read_source(p).text for p in s.source_files}
    assert sorted(texts) == ["news-1-port", "news-2-health", "news-3-bookfair"]
    assert len(s.items) == n_items and len({i.id for i in s.items}) == n_items
    assert sum(not i.answerable for i in s.items) == n_unanswerable
    for item in s.items:
        assert bool(item.history) == (name == "news-followups-dev"), item.id
        if not item.answerable:
            assert not item.facts and item.source is None, item.id
            continue
        spans = arabic.paragraph_spans(texts[item.source])
        paras = [spans[p - 1] for p in (item.paragraph, *item.alt_paragraphs)]
        for alts in item.facts:
            assert any(arabic.contains_fact(texts[item.source][a:b], f) for a, b in paras for f in alts), (item.id, alts)
    assert name not in evals.load_thresholds(ROOT / "evals" / "thresholds.yaml")  # development data, never a gate


def test_committed_news_more_dev_set_is_sound() -> None:
    """The twelve more news-style dev articles: every fact in its cited paragraph, each twin asked without its own
    article, never gated, and no paragraph or question shared with the gated suites, the seed or the first news set."""
    from assistant.sources import read_source

    s = evals.load_set(ROOT / "evals" / "dev" / "news-more-dev.yaml")
    texts = {p.stem: read_source(p).text for p in s.source_files}
    assert len(texts) == 12 and len(s.items) == 662 and len({i.id for i in s.items}) == 662
    answerable = [i for i in s.items if i.answerable]
    assert len(answerable) == 331
    for item in s.items:
        if not item.answerable:
            assert not item.facts and item.source is None, item.id
            continue
        a, b = arabic.paragraph_spans(texts[item.source])[item.paragraph - 1]
        assert any(arabic.contains_fact(texts[item.source][a:b], f) for alts in item.facts for f in alts), item.id
    twins = {i.id: i for i in s.items if not i.answerable}
    assert all(twins[f"{i.id}-twin"].exclude_sources == (i.source,) for i in answerable)
    others = [read_source(f).text for f in sorted((ROOT / "evals" / "dev" / "news").glob("*.md"))]
    others += [read_source(f).text for f in sorted((ROOT / "sources").glob("*.md"))]
    for sid, text in texts.items():
        for a, b in arabic.paragraph_spans(text):
            head = arabic.normalize(text[a:b])[:80]
            assert not any(head in arabic.normalize(t) for t in others), sid
    asked = {i.question for n in ("article", "article-followups") for i in evals.load_set(ROOT / "evals" / f"{n}.yaml").items}
    asked |= {i.question for n in ("news-dev", "news-followups-dev")
              for i in evals.load_set(ROOT / "evals" / "dev" / f"{n}.yaml").items}
    assert not asked & {i.question for i in answerable}
    assert "news-more-dev" not in evals.load_thresholds(ROOT / "evals" / "thresholds.yaml")


def test_committed_news_training_articles_are_sound() -> None:
    """The project's own training articles: every answer where its offset says, all of them training data when
    given to train-reader, and no paragraph or question shared with the gated suites, the seed or any news dev set."""
    from assistant.readers.trained import data
    from assistant.readers.trained.train import split_files
    from assistant.sources import read_source

    path = ROOT / data.NEWS_TRAIN
    paragraphs, questions, split = split_files([path])
    assert len(split) == N_NEWS_TRAIN_ARTICLES and set(split.values()) == {"train"}
    assert len(questions) >= 20 * N_NEWS_TRAIN_ARTICLES and len({q.qid for q in questions}) == len(questions)
    text_of = {p.key: p.text for p in paragraphs}
    for q in questions:
        (a,), (s,) = q.answers, q.answer_starts
        assert s >= 0 and text_of[q.paragraph_key][s:s + len(a)] == a, q.qid
    tested = [read_source(f).text for d in ("news", "news-more") for f in sorted((ROOT / "evals" / "dev" / d).glob("*.md"))]
    tested += [read_source(f).text for f in sorted((ROOT / "sources").glob("*.md"))]
    for p in paragraphs:
        head = arabic.normalize(p.text)[:80]
        assert not any(head in arabic.normalize(t) for t in tested), p.key
    asked = {i.question for n in ("article", "article-followups") for i in evals.load_set(ROOT / "evals" / f"{n}.yaml").items}
    asked |= {i.question for n in ("news-dev", "news-followups-dev", "news-more-dev")
              for i in evals.load_set(ROOT / "evals" / "dev" / f"{n}.yaml").items}
    assert not asked & {q.question for q in questions}


def test_heldout_articles_are_the_readers_split() -> None:
    data = pytest.importorskip("assistant.readers.trained.data")
    assert data.xquad_split()[0] == HELDOUT


@pytest.mark.skipif(not XQUAD_JSON.is_file(), reason="xquad.ar.json is not beside the repository")
def test_committed_xquad_files_are_what_the_script_writes() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_xquad_eval", ROOT / "scripts" / "make_xquad_eval.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    import yaml

    files, the_set, heldout, n = mod.build(json.loads(XQUAD_JSON.read_text(encoding="utf-8-sig")))
    assert n == 193 and len(files) == 240 and heldout == HELDOUT
    assert yaml.safe_load(XQUAD_SET.read_text(encoding="utf-8")) == the_set
    for name, content in files.items():
        assert (XQUAD_DOCS / name).read_text(encoding="utf-8") == content, name
    committed = {p.name for p in XQUAD_DOCS.glob("xquad-*.md")}
    assert committed == set(files)


# ------------------------------------------------------------------------------------ distractors


def test_distractors_add_n_paragraphs_and_say_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = _settings(tmp_path)
    assert evals.run_cli(settings, _args(sets=[_docs_set(tmp_path)], distractors=[str(SQUAD), "2"])) == 0
    out = capsys.readouterr().out
    assert "mini-docs+distractors-2: 3 items" in out and "distractors: 2 paragraph(s)" in out
    report = _report(tmp_path)
    assert report["set"] == "mini-docs+distractors-2"
    assert report["distractors"]["paragraphs"] == 2 and report["distractors"]["file"] == str(SQUAD)
    (built,) = [json.loads(p.read_text(encoding="utf-8")) for p in (tmp_path / "cache" / "eval-index").glob("*/BUILT.json")]
    ids = built["source_ids"]
    assert sorted(i for i in ids if not i.startswith("distractor-")) == sorted(Path(n).stem for n in DOCS)
    assert [i for i in ids if i.startswith("distractor-")] == ["distractor-squad_ar_small-0000-000",
                                                                 "distractor-squad_ar_small-0000-001"]
    md = next((tmp_path / "home" / "evals" / "reports").glob("*.md")).read_text(encoding="utf-8")
    assert "- distractors: 2 paragraph(s)" in md


def test_distractors_default_to_every_new_paragraph(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    s = evals.load_set(_docs_set(tmp_path))
    n_all = evals.add_distractors(settings, s, SQUAD)
    assert n_all == 4 and s.name == "mini-docs+distractors-4" and len(s.distractors) == 4
    # paragraphs already among the set's documents are skipped, not indexed twice
    squad_set = evals.load_squad(SQUAD)
    with pytest.raises(EvalSetError, match="no distractor paragraphs to add"):
        evals.add_distractors(settings, squad_set, SQUAD)


@pytest.mark.parametrize("values, expected", [
    (["f.json", "2", "3"], "put the set files before --distractors"),
    (["f.json", "many"], "N must be a whole number"),
    (["f.json", "0"], "N must be at least 1"),
])
def test_distractors_argument_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], values: list[str],
                                     expected: str) -> None:
    assert evals.run_cli(_settings(tmp_path), _args(sets=[_docs_set(tmp_path)], distractors=values)) == evals.EXIT_USER
    assert expected in capsys.readouterr().err


def test_cli_parses_distractors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant import cli

    seen = {}
    monkeypatch.setattr(evals, "run_cli", lambda settings, args: seen.setdefault("args", args) and 0)
    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path))
    monkeypatch.setenv("ASSISTANT_EMBED_MODEL", "hash")
    assert cli.main(["eval", "evals/article.yaml", "--distractors", "x.json", "5"]) == 0
    assert seen["args"].distractors == ["x.json", "5"] and seen["args"].sets == [Path("evals/article.yaml")]


# ------------------------------------------------------------------------------------------ cache


def test_eval_index_is_cached_and_a_broken_cache_is_never_used(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    path = _docs_set(tmp_path)
    said: list[str] = []
    evals.run_set(settings, evals.load_set(path), progress=said.append)
    assert any(m.startswith("cached the eval index") for m in said)
    root = tmp_path / "cache" / "eval-index"
    (folder,) = [p for p in root.iterdir()]  # no build folder is left behind
    said.clear()
    evals.run_set(settings, evals.load_set(path), progress=said.append)
    assert any(m.startswith("reusing the cached eval index") for m in said)

    # a folder under the key that is not a finished build (no BUILT record, or a gone generation) is rebuilt
    for breakage in ("built", "generation"):
        if breakage == "built":
            (folder / evals.BUILT).unlink()
        else:
            (folder / "index" / "CURRENT").write_text("gen-missing", encoding="utf-8")
        said.clear()
        runs = evals.run_set(settings, evals.load_set(path), progress=said.append)
        assert any(m.startswith("cached the eval index") for m in said), breakage
        assert runs[0].items[0].rank == 1
        assert [p.name for p in root.iterdir()] == [folder.name]

    # changed documents, embedding settings or chunking give another key; a leftover build folder is ignored
    (root / ".build-leftover").mkdir()
    (path.parent / "docs" / "fes.md").write_text(DOCS["fes.md"].replace("القرويين", "القرويين العريقة"), encoding="utf-8")
    evals.run_set(settings, evals.load_set(path))
    evals.run_set(settings.replace(chunk_max_words=30), evals.load_set(path))
    keys = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
    assert len(keys) == 3 and folder.name in keys


def test_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_EVAL_INDEX_CACHE", "0")
    evals.run_set(_settings(tmp_path), evals.load_set(_docs_set(tmp_path)))
    assert not (tmp_path / "cache" / "eval-index").exists()
    assert os.environ["ASSISTANT_EVAL_INDEX_CACHE"] == "0"


def test_cache_pruning_keeps_recent_and_in_use_folders(tmp_path: Path) -> None:
    root = tmp_path / "eval-index"
    old = 10 * 3600
    for n in range(12):
        d = root / f"k{n:02d}"
        d.mkdir(parents=True)
        (d / evals.BUILT).write_text("{}", encoding="utf-8")
        age = old + n if n < 10 else 60  # k10, k11: used a minute ago (a run may be reading them)
        os.utime(d / evals.BUILT, (os.path.getmtime(d) - age,) * 2)
    (root / ".build-abandoned").mkdir()
    os.utime(root / ".build-abandoned", (os.path.getmtime(root) - 7 * 3600,) * 2)
    (root / ".build-running").mkdir()
    evals._prune_cache(root, keep=root / "k09")
    left = sorted(p.name for p in root.iterdir())
    # kept: the one in use now, the two used a minute ago, then the most recent up to EVAL_INDEX_KEEP
    assert left == [".build-running", "k00", "k01", "k02", "k03", "k04", "k09", "k10", "k11"]
