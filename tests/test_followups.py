"""A follow-up is answered beside the previous answer; a why-question prefers the clause that gives a cause."""

from __future__ import annotations

import pytest

from assistant import arabic
from assistant.models import Citation
from assistant.qtypes import asks_reason, gives_reason
from assistant.service import Assistant

from conftest import make_settings

LIBRARY = """---
title: مكتبة ومتحف
---
افتتحت بلدية طنجة مكتبة المدينة الكبرى سنة 2004 بتمويل من وزارة الثقافة، تلبيةً لحاجة الطلبة إلى فضاء هادئ للمطالعة. وتضم المكتبة اليوم أكثر من مئة ألف كتاب في مختلف العلوم والآداب.

وفي سنة 2010 افتتحت البلدية متحفًا للفنون الحديثة في قلب المدينة القديمة، ويعرض المتحف لوحات نادرة لفنانين مغاربة وأجانب.
"""


@pytest.fixture
def library(home) -> Assistant:  # type: ignore[no-untyped-def]
    (home / "sources" / "library.md").write_text(LIBRARY, encoding="utf-8")
    a = Assistant(make_settings(home))
    a.sync()
    return a


@pytest.mark.parametrize("question", ["لماذا افتتحت البلدية المكتبة؟", "ولماذا؟", "ولأي غرض؟", "ما سبب إغلاق المتحف؟",
                                      "ما هو الهدف من المشروع؟"])
def test_why_questions_are_recognised(question: str) -> None:
    assert asks_reason(question)


@pytest.mark.parametrize("question", ["متى افتتحت المكتبة؟", "ما اسم المتحف؟", "من افتتح المكتبة؟"])
def test_other_questions_do_not_ask_why(question: str) -> None:
    assert not asks_reason(question)


@pytest.mark.parametrize("span, cause", [("تقديرًا لإسهاماته في دعم الأمن", True), ("بسبب الأمطار الغزيرة", True),
                                         ("وذلك لأن الطريق كان مغلقًا", True), ("تلبيةً لحاجة الطلبة", True), ("وفقًا لمعايير الجودة", False),
                                         ("افتتحت البلدية المتحف سنة 2010", False)])
def test_a_cause_is_told_from_a_manner(span: str, cause: bool) -> None:
    assert gives_reason(span) is cause


def test_a_why_question_is_answered_with_the_clause_that_gives_the_cause(library: Assistant) -> None:
    ans = library.ask("لماذا افتتحت بلدية طنجة مكتبة المدينة الكبرى؟")
    assert not ans.refused and "تلبيةً لحاجة الطلبة" in ans.text


def test_a_follow_up_says_where_the_previous_answer_stood(library: Assistant) -> None:
    first = library.ask("كم كتابًا تضم مكتبة المدينة الكبرى؟")
    ans = library.ask("ومتى افتتحت؟", history=["كم كتابًا تضم مكتبة المدينة الكبرى؟"])
    assert ans.followup_of == "كم كتابًا تضم مكتبة المدينة الكبرى؟"
    assert ans.followup_near == (f"library#{first.citations[0].paragraph}",)
    assert ans.to_dict()["followup_near"] == [f"library#{first.citations[0].paragraph}"]
    assert "2004" in ans.text
    assert library.ask("متى افتتحت المكتبة؟").followup_near == ()  # a question that stands alone leans on nothing


def test_between_two_equal_paragraphs_the_previous_answer_decides(library: Assistant) -> None:
    index, answerer = library._load()  # noqa: SLF001 - the answerer itself, with passages that tie
    src = index.sources["library"]
    passages = index.search("متى افتتحت البلدية؟", k=5)
    assert {p.paragraph for p in passages} >= {1, 2}
    for paragraph, year in ((1, "2004"), (2, "2010")):
        ps, pe = arabic.paragraph_spans(src.text)[paragraph - 1]
        near = (Citation(n=1, source_id="library", title="", paragraph=paragraph, start=ps, end=pe, quote=""),)
        ans = answerer.answer("ومتى افتتحت؟", passages, resolved="ومتى افتتحت البلدية؟", near=near)
        assert year in ans.text and ans.citations[0].paragraph == paragraph


def test_an_entry_that_could_not_be_asked_is_no_turn(library: Assistant) -> None:
    books = "كم كتابًا تضم مكتبة المدينة الكبرى؟"
    for bad in ("   ", "س" * 100_000):
        ans = library.ask("ومتى افتتحت؟", history=[books, bad])
        assert ans.followup_of == books and ans.followup_near == ("library#1",) and "2004" in ans.text
    assert library.ask("ومتى افتتحت؟", history=[123, None]).followup_of == ""  # type: ignore[list-item]
