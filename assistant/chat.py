"""Multi-turn: a follow-up question that leans on earlier turns is completed from the last question.

The rule (no LLM needed): a question is a follow-up when it starts with the conjunction و ("ومتى
انعقدت؟"), refers back with a bare pronoun ("وكم عددهم؟", "ومن وقّع معها؟"), or has at most one content
word of its own. Its completion is the question plus the previous question's topic: that question's
content words that the new one does not already have (question words and stopwords dropped).
"""

from __future__ import annotations

import re

from . import arabic

_PRONOUN_REF = re.compile(r"(?:ها|هم|هما|هن|ه)$")
_REF_WORDS = {"هناك", "هنالك", "ذلك", "تلك", "هذه", "هذا", "هو", "هي", "هم", "معها", "معه", "معهم", "فيها", "فيه", "عنها", "عنه", "منها", "منه", "لها", "له"}


def is_follow_up(question: str) -> bool:
    """True when a question needs the conversation to be understood."""
    ws = arabic.words(question)
    if not ws:
        return False
    content = arabic.analyze(question)
    if ws[0].startswith("و") and len(ws) <= 6 and ws[0][1:] in arabic.stopwords() | {"متي", "كم", "من", "اين", "ماذا", "ما", "هل", "لماذا", "كيف"}:
        return True
    if any(w in _REF_WORDS for w in ws) and len(content) <= 3:
        return True
    if any(_PRONOUN_REF.search(w) and w not in arabic.stopwords() and len(w) > 3 for w in ws[:3]) and len(content) <= 2:
        return True
    return len(content) <= 1


def resolve(question: str, history: list[str]) -> str:
    """The question completed from the most recent earlier question, or unchanged when it stands alone."""
    if not history or not is_follow_up(question):
        return question
    prev = history[-1]
    have = set(arabic.analyze(question))
    stops = arabic.stopwords()
    def is_stop(word: str) -> bool:
        w = arabic.normalize(word.strip("؟?!.،"))
        return w in stops or (w.startswith("و") and w[1:] in stops)  # "ومتى" is a question word too

    topic = [w for w in prev.split() if not is_stop(w) and arabic.analyze(w) and not set(arabic.analyze(w)) <= have]
    base = question.strip().rstrip("؟?")
    return f"{base} {' '.join(t.strip('؟?!.') for t in topic)}؟".strip()
