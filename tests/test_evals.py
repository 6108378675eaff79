"""Evaluation suites: set validation, metrics on known outcomes, SQuAD import, reports, gate, compare."""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path

import pytest

from assistant import evals
from assistant.evals import EvalItem, EvalSetError
from assistant.models import Answer, Citation, Passage

from conftest import ARTICLE_ID, ROOT, make_settings

SQUAD = Path(__file__).resolve().parent / "fixtures" / "squad_ar_small.json"
SQUAD_NAME = "squad-squad_ar_small"


def _args(**kw):  # type: ignore[no-untyped-def]
    base = dict(sets=[], squad=None, limit=None, compare=False, no_gate=False)
    base.update(kw)
    return Namespace(**base)


def _passage(source: str, paragraph: int, n: int = 0) -> Passage:
    return Passage(node_id=f"{source}-{paragraph}-{n}", source_id=source, title="t", paragraph=paragraph,
                   start=0, end=1, text="x", score=1.0)


def _cite(source: str, paragraph: int, quote: str) -> Citation:
    return Citation(n=1, source_id=source, title="t", paragraph=paragraph, start=0, end=len(quote), quote=quote)


def _answer(text: str, refused: bool = False, cites: tuple = (), passages: tuple = ()) -> Answer:
    return Answer(question="q", text=text, refused=refused, citations=cites, passages=passages)


# ------------------------------------------------------------------------------------------ metrics


def test_metrics_on_known_outcomes() -> None:
    a = EvalItem("a", "كم عدد الدول؟", True, (("181",),), "s", 2)
    b = EvalItem("b", "أين؟", True, (("مراكش",),), "s", 1, alt_paragraphs=(3,))
    c = EvalItem("c", "ماذا؟", True, (("الإرهاب",), ("الجريمة", "الجرائم")), "s", 4)
    d = EvalItem("d", "من الرئيس؟", False)
    e = EvalItem("e", "ما عاصمة اليابان؟", False)
    results = [
        # rank 1, facts and citation right
        evals.score_item(a, _answer("مشاركة من 181 دولة عضوا [1]", cites=(_cite("s", 2, "من 181 دولة عضوا"),),
                                    passages=(_passage("s", 2), _passage("s", 1))), 10),
        # the same paragraph twice counts once: distinct order 2, 3 -> alt paragraph 3 at rank 2;
        # the fact is in the answer ("بمراكش": proclitic allowed) but the citation quote lacks it
        evals.score_item(b, _answer("اجتمعوا بمراكش في حدائق المنارة [1]", cites=(_cite("s", 2, "في حدائق المنارة"),),
                                    passages=(_passage("s", 2, 0), _passage("s", 2, 1), _passage("s", 3))), 20),
        # refused an answerable question; expected paragraph not retrieved
        evals.score_item(c, _answer("لا تذكر المصادر", refused=True, passages=(_passage("s", 1),)), 30),
        evals.score_item(d, _answer("لا تذكر المصادر", refused=True), 40),  # right refusal
        evals.score_item(e, _answer("طوكيو هي العاصمة [1]", cites=(_cite("s", 1, "طوكيو"),)), 50),  # wrong answer
    ]
    assert [r.rank for r in results] == [1, 2, None, None, None]
    assert [r.fact_ok for r in results[:3]] == [True, True, False]
    assert [r.citation_ok for r in results[:3]] == [True, False, False]
    assert [r.ok for r in results] == [True, False, False, True, False]
    assert results[1].retrieved == ["s#2", "s#3"]
    assert results[2].missing_facts == ["الإرهاب", "الجريمة | الجرائم"]
    assert results[0].words == 5 and results[2].words == 0  # "[1]" not counted, refusals not measured
    m, counts, notes = evals.compute_metrics(results)
    assert list(m) == list(evals.METRICS)
    assert m["hit_at_1"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["hit_at_3"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["hit_at_5"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["mrr"] == pytest.approx((1 + 0.5 + 0) / 3, abs=1e-4)
    assert m["fact_accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["citation_accuracy"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["refusal_precision"] == 0.5  # refused c (wrong) and d (right)
    assert m["refusal_recall"] == 0.5  # d refused, e answered
    assert m["answer_words_mean"] == pytest.approx((5 + 5 + 3) / 3, abs=1e-4)
    assert m["latency_p50_ms"] == 30 and m["latency_p95_ms"] == pytest.approx(48)
    assert counts["refused_answerable"] == 1 and counts["answered_unanswerable"] == 1 and counts["retrieval_misses"] == 1
    assert notes == []


def test_metrics_empty_denominators_are_defined() -> None:
    item = EvalItem("a", "سؤال؟", True, (("181",),), "s", 1)
    res = [evals.score_item(item, _answer("181 دولة [1]", cites=(_cite("s", 1, "181 دولة"),), passages=(_passage("s", 1),)), 5)]
    m, _, notes = evals.compute_metrics(res)
    assert m["refusal_precision"] == 1.0 and m["refusal_recall"] == 1.0
    assert any("refusal_precision" in n for n in notes) and any("refusal_recall" in n for n in notes)
    only_unanswerable = [evals.score_item(EvalItem("u", "سؤال؟", False), _answer("لا", refused=True), 5)]
    m, _, notes = evals.compute_metrics(only_unanswerable)
    assert m["hit_at_1"] is None and m["fact_accuracy"] is None and m["answer_words_mean"] is None
    assert m["refusal_precision"] == 1.0 and m["refusal_recall"] == 1.0
    assert evals.percentile([], 50) is None and evals.percentile([7], 95) == 7


def test_citation_must_point_at_expected_source() -> None:
    item = EvalItem("a", "سؤال؟", True, (("181",),), "s", 1)
    r = evals.score_item(item, _answer("181 [1]", cites=(_cite("other", 1, "181"),)), 1)
    assert r.fact_ok and not r.citation_ok


# ------------------------------------------------------------------------------------- set loading


def _write(tmp: Path, text: str) -> Path:
    p = tmp / "set.yaml"
    p.write_text(text, encoding="utf-8")
    return p


GOOD_ITEM = """
  - id: q1
    question: "كم عدد الدول؟"
    answerable: true
    facts: ["181"]
    citation: {source: s, paragraph: 2}
"""


@pytest.mark.parametrize("body, expected", [
    ("name: x\nitems: []\n", "'items' must be a non-empty list"),
    ("items:" + GOOD_ITEM, "'name' must be"),
    ("name: x\nitem:" + GOOD_ITEM, "unknown top-level key(s) item"),
    ("name: x\nitems:" + GOOD_ITEM + GOOD_ITEM, "duplicate id 'q1'"),
    ("name: x\nitems:" + GOOD_ITEM.replace('facts: ["181"]', "facts: []"), "(id q1): an answerable item needs at least one fact"),
    ("name: x\nitems:" + GOOD_ITEM.replace("{source: s, paragraph: 2}", "null"), "(id q1): an answerable item needs 'citation"),
    ("name: x\nitems:" + GOOD_ITEM.replace("paragraph: 2", "paragraph: 0"), "'citation.paragraph' must be a paragraph number"),
    ("name: x\nitems:" + GOOD_ITEM.replace("answerable: true", "answerable: yes-ish"), "'answerable' must be true or false"),
    ("name: x\nitems:" + GOOD_ITEM.replace("facts:", "fact:"), "unknown key(s) fact"),
    ("name: x\nitems:" + GOOD_ITEM.replace('["181"]', '[[]]'), "fact #1 must be"),
    ("name: x\nitems:" + GOOD_ITEM.replace("answerable: true", "answerable: false"), "(id q1): an unanswerable item must have 'facts: []'"),
    ("name: x\nitems:\n  - id: u1\n    question: 'سؤال؟'\n    answerable: false\n    facts: []\n    citation: {source: s, paragraph: 1}\n",
     "an unanswerable item must have 'citation: null'"),
    ("name: x\nitems:\n  - question: 'سؤال؟'\n", "item #1: every item needs an 'id'"),
    ("name: x\nitems: [\n", "not valid YAML"),
])
def test_set_validation_errors_are_clear(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(EvalSetError) as err:
        evals.load_set(_write(tmp_path, body))
    assert expected in str(err.value)
    assert str(tmp_path / "set.yaml") in str(err.value)


def test_set_loads_alternatives_and_optional_fields(tmp_path: Path) -> None:
    s = evals.load_set(_write(tmp_path, "name: x\nitems:" + GOOD_ITEM.replace('["181"]', '[["المغرب", "المملكة المغربية"], 2025]')
                              + "    alt_paragraphs: [3]\n    tags: [number]\n    history: ['سؤال سابق؟']\n"))
    item = s.items[0]
    assert item.facts == (("المغرب", "المملكة المغربية"), ("2025",))
    assert item.expected_paragraphs == {("s", 2), ("s", 3)}
    assert item.history == ("سؤال سابق؟",) and item.tags == ("number",)


def test_repository_article_set_and_thresholds_are_valid() -> None:
    s = evals.load_set(ROOT / "evals" / "article.yaml")
    assert s.name == "article"
    assert len(s.items) >= 20 and any(not i.answerable for i in s.items)
    assert all(i.source == ARTICLE_ID for i in s.items if i.answerable)
    thresholds = evals.load_thresholds(ROOT / "evals" / "thresholds.yaml")  # raises on unknown metrics
    assert set(thresholds.get("article", {})) <= set(evals.METRICS)


# ------------------------------------------------------------------------------------------- gate


def test_gate_floors_ceilings_and_missing_thresholds(tmp_path: Path) -> None:
    m = {"hit_at_1": 0.8, "fact_accuracy": None, "latency_p95_ms": 900.0}
    assert evals.gate(m, {"hit_at_1": 0.8, "latency_p95_ms": 1000}).passed
    g = evals.gate(m, {"hit_at_1": 0.81, "latency_p95_ms": 800})
    assert not g.passed and {c["metric"] for c in g.failures} == {"hit_at_1", "latency_p95_ms"}
    assert "hit_at_1 0.800 (< 0.810)" in g.note and "latency_p95_ms 900 (> 800)" in g.note
    assert not evals.gate(m, {"fact_accuracy": 0.1}).passed  # a gated metric that was not measured fails
    free = evals.gate(m, None, "nameless")
    assert free.passed and not free.gated and "no thresholds" in free.note
    bad = tmp_path / "t.yaml"
    bad.write_text("article:\n  hit_at_one: 0.5\n", encoding="utf-8")
    with pytest.raises(EvalSetError, match="unknown metric 'hit_at_one'"):
        evals.load_thresholds(bad)
    bad.write_text("article:\n  hit_at_1: high\n", encoding="utf-8")
    with pytest.raises(EvalSetError, match="must be a number"):
        evals.load_thresholds(bad)


# ------------------------------------------------------------------------------------------- SQuAD


def test_squad_fixture_offsets_are_right() -> None:
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    n = 0
    for article in data["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                for ans in qa["answers"]:
                    assert para["context"][ans["answer_start"]:ans["answer_start"] + len(ans["text"])] == ans["text"]
                    n += 1
    assert n >= 8


def test_squad_import_and_limit() -> None:
    s = evals.load_squad(SQUAD)
    assert s.name == SQUAD_NAME and len(s.items) == 11 and len(s.documents) == 4 and not s.warnings
    assert all(i.answerable and i.paragraph == 1 for i in s.items)
    assert s.items[1].facts == (("فاطمة الفهرية", "الفهرية"),)  # several answers are alternatives
    limited = evals.load_squad(SQUAD, limit=3)
    # the first three questions come from the first article; all its paragraphs are indexed as distractors
    assert len(limited.items) == 3 and len(limited.documents) == 2


def test_squad_end_to_end_writes_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path)
    rc = evals.run_cli(settings, _args(squad=SQUAD))
    assert rc == 0
    out = capsys.readouterr().out
    assert "hit_at_1" in out and "not gated" in out
    reports = tmp_path / "evals" / "reports"
    (jpath,) = reports.glob(f"{SQUAD_NAME}-*.json")
    (mpath,) = reports.glob(f"{SQUAD_NAME}-*.md")
    report = json.loads(jpath.read_text(encoding="utf-8"))
    assert list(report["metrics"]) == list(evals.METRICS)
    assert report["counts"]["items"] == 11 and len(report["items"]) == 11
    assert report["metrics"]["hit_at_5"] == 1.0  # four paragraphs: the right one is always among the top 5
    row = report["items"][0]
    for key in ("id", "question", "expected", "answer", "refused", "fact_ok", "citation_ok", "ok", "rank", "latency_ms"):
        assert key in row
    md = mpath.read_text(encoding="utf-8")
    assert "## Metrics" in md and "## Failures" in md and "| hit_at_1 |" in md
    assert not (tmp_path / "index").exists()  # the user's index is never touched


# -------------------------------------------------------------------------- gate on a broken retriever


def _thresholds(home: Path) -> None:
    (home / "evals").mkdir(parents=True, exist_ok=True)
    (home / "evals" / "thresholds.yaml").write_text(
        f"{SQUAD_NAME}:\n  hit_at_1: 0.9\n  mrr: 0.9\n  fact_accuracy: 0.5\n  latency_p95_ms: 60000\n", encoding="utf-8")


def test_gate_passes_for_the_real_retriever(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _thresholds(tmp_path)
    assert evals.run_cli(make_settings(tmp_path), _args(squad=SQUAD)) == 0
    assert "gate: passed" in capsys.readouterr().out


@pytest.mark.parametrize("broken", ["nothing", "worst-first"])
def test_gate_fails_for_a_broken_retriever(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str], broken: str) -> None:
    from assistant.retrieve import Index

    real = Index.search

    def search(self, question, k=None, mode="hybrid", exclude=()):  # type: ignore[no-untyped-def]
        if broken == "nothing":
            return []
        everything = real(self, question, k=self.settings.candidates, mode=mode, exclude=exclude)
        return list(reversed(everything))[: k or self.settings.top_k]

    monkeypatch.setattr(Index, "search", search)
    _thresholds(tmp_path)
    settings = make_settings(tmp_path)
    assert evals.run_cli(settings, _args(squad=SQUAD)) == evals.EXIT_GATE
    out = capsys.readouterr().out
    assert "gate: FAILED" in out and "hit_at_1" in out
    (jpath,) = (tmp_path / "evals" / "reports").glob("*.json")
    report = json.loads(jpath.read_text(encoding="utf-8"))
    assert report["gate"]["passed"] is False
    assert "hit_at_1" in {c["metric"] for c in report["gate"]["checks"] if not c["ok"]}
    assert evals.run_cli(settings, _args(squad=SQUAD, no_gate=True)) == 0  # --no-gate reports only


# ------------------------------------------------------------------------------------------ compare


def test_compare_runs_every_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path)
    assert evals.run_cli(settings, _args(squad=SQUAD, compare=True, limit=6)) == 0
    out = capsys.readouterr().out
    for name in ("keyword", "dense", "hybrid 0.5/0.5 (configured)", "hybrid 0.3/0.7", "hybrid 0.7/0.3"):
        assert name in out
    (jpath,) = (tmp_path / "evals" / "reports").glob(f"{SQUAD_NAME}-compare-*.json")
    report = json.loads(jpath.read_text(encoding="utf-8"))
    rows = {r["config"]: r for r in report["compare"]}
    assert rows["keyword"]["settings"]["mode"] == "keyword" and rows["dense"]["settings"]["mode"] == "dense"
    assert rows["hybrid 0.3/0.7"]["settings"]["keyword_weight"] == 0.3
    assert report["config"]["name"] == "hybrid 0.5/0.5 (configured)"  # the product configuration is gated
    assert all(list(r["metrics"]) == list(evals.METRICS) for r in report["compare"])
    md = next((tmp_path / "evals" / "reports").glob("*.md")).read_text(encoding="utf-8")
    assert "## Configurations compared" in md


# ------------------------------------------------------------------------------- article set and CLI


def test_yaml_set_on_the_article_checks_itself(tmp_path: Path) -> None:
    set_file = _write(tmp_path, f"""name: mini
items:
  - id: q1
    question: "كم عدد الدول التي شاركت في الجمعية العامة؟"
    answerable: true
    facts: ["181"]
    citation: {{source: {ARTICLE_ID}, paragraph: 2}}
  - id: q2
    question: "كم عدد الاجتماعات الثنائية؟"
    answerable: true
    facts: ["999"]
    citation: {{source: {ARTICLE_ID}, paragraph: 4}}
  - id: u1
    question: "ما هي عاصمة اليابان؟"
    answerable: false
    facts: []
    citation: null
""")
    settings = make_settings(tmp_path / "home")  # its sources/ is empty: the article comes from the repository
    eval_set = evals.load_set(set_file)
    runs = evals.run_set(settings, eval_set)
    assert [r.id for r in runs[0].items] == ["q1", "q2", "u1"]
    assert runs[0].items[0].rank is not None
    # the set's own mistake (a fact that is not in the cited paragraph) is reported as a set warning
    assert any(w.startswith("q2: fact «999»") for w in eval_set.warnings)


def test_cli_routes_eval_and_reports_bad_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from assistant import cli

    from conftest import model_cache

    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path))
    monkeypatch.setenv("ASSISTANT_EMBED_MODEL", "hash")
    monkeypatch.setenv("ASSISTANT_PROMPTS_DIR", str(ROOT / "prompts"))
    monkeypatch.setenv("ASSISTANT_CACHE_DIR", str(model_cache()))
    bad = _write(tmp_path, "name: x\nitems: []\n")
    assert cli.main(["eval", str(bad)]) == 2
    assert "'items' must be a non-empty list" in capsys.readouterr().err
    assert cli.main(["eval", "--squad", str(SQUAD), "--limit", "2"]) == 0
    assert list((tmp_path / "evals" / "reports").glob(f"{SQUAD_NAME}-*.json"))
