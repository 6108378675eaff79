"""Follow-ups: completed from the conversation only when they lack their own subject, never piling words up."""

from __future__ import annotations

import pytest

from assistant.chat import is_follow_up, resolve_turn

WHERE = "أين انعقدت الجمعية العامة للإنتربول؟"


@pytest.mark.parametrize("question", ["ومتى؟", "ولماذا؟", "ولأي غرض؟", "وبماذا عبّر؟", "وكم عدد دولهم؟",
                                      "وفي أي مجال ستتعاون معها؟", "وكم يومًا استمرت؟", "متى؟", "شحال؟",
                                      "كم موظفًا يعمل فيها؟", "ومن يسكن فيهم؟"])
def test_questions_without_their_own_subject_are_follow_ups(question: str) -> None:
    assert is_follow_up(question)


@pytest.mark.parametrize("question", ["ما هي عاصمة اليابان؟", "من هو الملك الذي جاء الحدث تحت قيادته؟",
                                      "كم اجتماعًا ثنائيًا عقده المدير العام للأمن الوطني؟",
                                      "وأي اتفاقية دعمت الدورة المصادقة عليها؟", WHERE])
def test_questions_that_name_their_subject_stand_alone(question: str) -> None:
    assert not is_follow_up(question)
    assert resolve_turn(question, ["مع من وقّع المغرب مذكرتي تفاهم؟"]).question == question


def test_a_follow_up_takes_the_topic_as_typed_and_says_where_from() -> None:
    r = resolve_turn("ومتى؟", [WHERE])
    assert r.question == "ومتى انعقدت الجمعية العامة للإنتربول؟" and r.followup_of == WHERE
    assert resolve_turn("ومتى؟", []).followup_of == ""


def test_a_chain_leans_on_the_last_question_that_stood_alone_and_words_never_pile_up() -> None:
    history = [WHERE, "ومتى؟", "وكم يومًا استمرت؟"]
    r = resolve_turn("وكم دولة شاركت فيها؟", history)
    assert r.followup_of == WHERE
    assert r.question.count("الجمعية") == 1 and "ومتى" not in r.question and "يوم" not in r.question


SCHEELE = "في أي عام تعرف جوزيف بريستلي على الأكسجين؟"


@pytest.mark.parametrize("question", ["وكارل فيلهلم شيل؟", "وبحلول سنة 2000؟", "والرسوم؟"])
def test_a_phrase_that_asks_nothing_asks_the_earlier_question_again(question: str) -> None:
    r = resolve_turn(question, [SCHEELE])
    assert is_follow_up(question) and r.followup_of == SCHEELE
    assert r.question.startswith("في أي عام تعرف جوزيف بريستلي على الأكسجين") and question.rstrip("؟") in r.question


def test_phrases_that_ask_nothing_never_pile_up() -> None:
    r = resolve_turn("وكارل فيلهلم شيل؟", [SCHEELE, "وأنطوان لافوازييه؟"])
    assert r.question.count("في أي عام") == 1 and "لافوازييه" not in r.question
    assert resolve_turn("وكارل؟", [WHERE, "ومتى؟"]).question.startswith("ومتى انعقدت الجمعية العامة")
    assert not is_follow_up("وصل الوفد إلى مراكش صباح الاثنين قادمًا من الرباط")  # a statement, not a phrase
