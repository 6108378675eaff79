"""Multi-turn: a follow-up that lacks its own subject is completed from the conversation.

A question lacks its own subject when, once its question words, stopwords and back-references are set aside,
too little of it is left to be asked alone: nothing at all («ومتى؟», «ولماذا؟»), at most three words after a
conjunction («وكم يومًا استمرت؟»), or at most three words beside a back-reference («وفي أي مجال ستتعاون
معها؟»). A pronoun right after a question word is a copula, not a back-reference («ما هي عاصمة اليابان؟» names
its subject). The completion adds the topic of the most recent question that stood on its own, taken from
that question as the person typed it: rewritten questions are never fed back, so words never pile up.
A short phrase after a conjunction with no question word at all («وكارل شيل؟»، «وبحلول سنة 2000؟») asks the
last question that asked something again, about its new subject.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import arabic


@dataclass(frozen=True)
class Resolution:
    """How a question was understood: as it stands, or completed from an earlier question."""

    question: str  # the question to search and answer with
    followup_of: str = ""  # the earlier question (as typed) whose topic completed it; "" when it stood alone


def _parts(question: str) -> tuple[list[str], bool, bool]:
    """(content words, starts with a conjunction, holds a back-reference) of a question."""
    ws = arabic.words(question)
    stops = arabic.stopwords()
    content: list[str] = []
    refers = False
    for i, w in enumerate(ws):
        if arabic.is_question_word(w):
            continue
        if w in arabic.PRONOUNS:
            refers = refers or not (i > 0 and arabic.is_question_word(ws[i - 1]))  # «ما هي ...»: a copula, not a reference
            continue
        if arabic.is_back_reference(w):
            refers = True
            continue
        if w in stops or (w[0] in ("و", "ف") and w[1:] in stops) or len(w) < 2:
            continue
        content.append(w)
    # «ومتى…», «ولأي…», or a glued conjunction before a preposition and a question word («وفي أي…»)
    conj = bool(ws) and ws[0][0] in ("و", "ف") and (arabic.is_question_word(ws[0])
                                                   or (len(ws) > 1 and arabic.is_question_word(ws[1])))
    return content, conj, refers


def _asks_nothing(question: str) -> bool:
    """«وكارل شيل؟»، «وبحلول سنة 2000؟»: a short phrase after a conjunction with no question word of its own, which
    asks the previous question again about something else."""
    ws = arabic.words(question)
    return bool(ws) and ws[0][0] in ("و", "ف") and len(ws) <= 4 and not any(arabic.is_question_word(w) for w in ws)


def is_follow_up(question: str) -> bool:
    """True when a question lacks its own subject and needs the conversation to be understood."""
    content, conj, refers = _parts(question)
    if not content:
        return bool(arabic.words(question))
    return len(content) <= 1 or (len(content) <= 3 and (conj or refers)) or _asks_nothing(question)


def asks_own_words(question: str) -> bool:
    """True when a question holds words of its own beyond question words, stopwords and back-references («وما
    اسم قلعتهم؟» asks about a castle; «ولماذا؟» holds nothing but its question word)."""
    return bool(_parts(question)[0])


def _topic_source(history: list[str]) -> str:
    """The most recent earlier question that stood on its own (the first one when all leaned on others)."""
    for q in reversed(history):
        if not is_follow_up(q):
            return q
    return history[0]


def resolve_turn(question: str, history: list[str]) -> Resolution:
    """The question completed from the conversation's topic, or unchanged when it has its own subject.

    ``history``: the earlier questions as the person typed them, oldest first.
    """
    if not history or not is_follow_up(question):
        return Resolution(question)
    prev = _topic_source(history)
    if _asks_nothing(question):  # the last question that asked something, asked again about the new subject
        i = max((i for i, q in enumerate(history) if not _asks_nothing(q)), default=0)
        asked = resolve_turn(history[i], history[:i]).question
        return Resolution(f"{_bare(asked)} {_bare(question)}؟", followup_of=prev)
    have = set(arabic.analyze(question))
    content, _, _ = _parts(prev)
    topic, seen = [], set()
    for w in content:
        stems = set(arabic.analyze(w))
        if stems and not stems <= have and w not in seen:
            topic.append(w)
            seen.add(w)
            have |= stems
    if not topic:
        return Resolution(question)
    originals = {}  # show the words as the person wrote them
    for t in prev.split():
        t = t.strip("؟?!.،,:؛")
        for w in arabic.words(t)[:1]:
            originals.setdefault(w, t)
    shown = [originals.get(w, w) for w in topic]
    return Resolution(f"{_bare(question)} {' '.join(shown)}؟", followup_of=prev)


def _bare(question: str) -> str:
    return question.strip().rstrip("؟?").rstrip()


def resolve(question: str, history: list[str]) -> str:
    """The question completed from the conversation (see :func:`resolve_turn`)."""
    return resolve_turn(question, history).question
