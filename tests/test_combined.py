"""The default reader: the rules decide whether to answer, the trained reader what to quote."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from conftest import make_settings

from assistant.config import Settings

Q181 = "كم عدد الدول التي شاركت في الجمعية العامة؟"


def test_combined_is_the_default_reader() -> None:
    assert Settings().reader == "combined"


@pytest.fixture(scope="module")
def combined(trained_assistant):  # type: ignore[no-untyped-def]
    """The trained assistant's index, answered by the combined reader."""
    from assistant.service import Assistant

    return Assistant(trained_assistant.settings.replace(reader="combined"))


@pytest.mark.slow
def test_answer_quotes_the_trained_sentence_with_its_short_answer(combined, trained_assistant) -> None:  # type: ignore[no-untyped-def]
    a = combined.ask(Q181)
    t = trained_assistant.ask(Q181)
    assert a.reader == "combined" and not a.refused
    assert a.citations[0].quote == t.citations[0].quote and "181" in a.citations[0].quote
    sa = a.short_answer
    assert sa is not None and "181" in sa.text
    assert combined.source(sa.source_id).text[sa.start:sa.end] == sa.text
    assert a.confidence == pytest.approx(t.confidence)  # the trained reader's calibrated probability


@pytest.mark.slow
def test_rules_refusal_stands(combined) -> None:  # type: ignore[no-untyped-def]
    for q in ("ما هي عاصمة اليابان؟", "كيف سيكون الطقس في الرباط غدا؟"):
        a = combined.ask(q)
        assert a.refused and a.reader == "combined" and not a.citations and a.short_answer is None, q
        assert 0.0 <= a.confidence < 0.9, q  # the trained reader's probability, below the override


@pytest.mark.slow
def test_rules_answer_when_the_trained_reader_finds_nothing(combined) -> None:  # type: ignore[no-untyped-def]
    """A trained reader that refuses everything hands the answer back to the rules, not to a refusal."""
    from assistant.readers.combined import CombinedAnswerer
    from assistant.readers.rules import ExtractiveAnswerer
    from assistant.readers.trained.answerer import ReaderAnswerer

    index, answerer = combined._load()
    assert isinstance(answerer, CombinedAnswerer)
    strict = CombinedAnswerer(answerer.rules, ReaderAnswerer(index, replace(answerer.reader.reader, threshold=1.01)))
    passages = index.search(Q181, k=5)
    a = strict.answer(Q181, passages)
    rules = ExtractiveAnswerer(index).answer(Q181, passages)
    assert not a.refused and a.reader == "combined"
    assert a.citations == rules.citations and "181" in a.text
    # the rules give no span of their own; the number that counts what is asked becomes the short answer
    sa = a.short_answer
    assert sa is not None and sa.text == "181" and index.sources[sa.source_id].text[sa.start:sa.end] == "181"
    # one scale: the reader's own (low) probability, not the rules' score
    assert a.confidence == pytest.approx(strict.reader.answer(Q181, passages).confidence)
    assert a.confidence != pytest.approx(rules.confidence)


@pytest.mark.slow
def test_a_number_that_counts_what_is_asked_beats_a_quote_whose_number_counts_something_else(combined) -> None:  # type: ignore[no-untyped-def]
    """Asked in other words, the 181 question drew the trained reader to «أكثر من 43 اجتماعًا ثنائيًا مع رؤساء وفود
    دول» (a number, and «دول» six words on); the rules' window holds «181 دولة», which counts the countries asked."""
    q = "كم عدد الدول المشاركة؟"
    a = combined.ask(q)
    assert not a.refused and "181" in a.citations[0].quote and "43" not in a.text
    sa = a.short_answer
    assert sa is not None and sa.text == "181" and combined.source(sa.source_id).text[sa.start:sa.end] == "181"
    # a quote whose number does count the noun stays the trained reader's
    t = combined.ask("كم اجتماعًا ثنائيًا أجرى المدير العام؟")
    assert "43" in t.citations[0].quote and t.short_answer is not None and t.short_answer.text == "43"


def test_missing_trained_reader_leaves_the_rules_with_a_note(article_home: Path, tmp_path: Path) -> None:
    from assistant.ingest import sync
    from assistant.service import Assistant

    s = make_settings(article_home, reader="combined", reader_path=tmp_path / "gone.json.gz")
    sync(s)
    a = Assistant(s).ask(Q181)
    assert a.reader == "rules" and "القارئ" in a.reader_note


@pytest.mark.slow
def test_trained_reader_overrides_a_rules_refusal_only_when_nearly_sure(combined, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from assistant.readers import combined as combined_module
    from assistant.readers.combined import CombinedAnswerer
    from assistant.readers.rules import ExtractiveAnswerer

    index, answerer = combined._load()
    rules = ExtractiveAnswerer(index)
    rules.settings = rules.settings.replace(min_score=99.0)  # rules that refuse everything
    both = CombinedAnswerer(rules, answerer.reader)
    passages = index.search(Q181, k=5)
    monkeypatch.setattr(combined_module, "OVERRIDE", 1.01)
    assert both.answer(Q181, passages).refused
    monkeypatch.setattr(combined_module, "OVERRIDE", 0.0)
    a = both.answer(Q181, passages)
    assert not a.refused and a.reader == "combined" and "181" in a.short_answer.text


@pytest.mark.slow
def test_a_follow_up_is_read_as_completed_and_as_typed(combined) -> None:  # type: ignore[no-untyped-def]
    """The trained reader keeps the more confident of its two readings of a follow-up with words of its own."""
    from assistant.readers.trained.answerer import ReaderAnswerer

    index, answerer = combined._load()
    reader = ReaderAnswerer(index, answerer.reader.reader)
    typed, completed = "وكم دولة شاركت فيها؟", "وكم دولة شاركت فيها الجمعية العامة للإنتربول مراكش؟"
    passages = index.search(completed, k=5)
    both = reader.answer(typed, passages, resolved=completed)
    readings = [reader.answer(completed, passages), reader.answer(typed, passages)]
    best = max((r for r in readings if not r.refused), key=lambda r: r.confidence)
    assert not both.refused and both.confidence == pytest.approx(best.confidence)
    assert both.citations[0].quote == best.citations[0].quote
    assert both.resolved_question == completed  # what was searched stays on record
    bare = reader.answer("ولماذا؟", passages, resolved="ولماذا انعقدت الجمعية العامة للإنتربول في مراكش؟")
    assert bare.confidence == pytest.approx(reader.answer("ولماذا انعقدت الجمعية العامة للإنتربول في مراكش؟",
                                                          passages).confidence)  # nothing of its own: read once
