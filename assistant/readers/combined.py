"""The default reader: the rules decide whether the sources answer, the trained reader chooses what to quote.

Chosen on dev data (the XQuAD-ar dev split, `evals/dev/xquad-dev.yaml`, and the dev conversations,
`evals/dev/xquad-followups-dev.yaml`), never on the gated suites. Alone, each reader is strong where the other is
weak: the trained reader picks the sentence that holds the fact better (dev facts 0.719 against the rules' 0.612),
while the rules' refusal (a window that holds the kind of thing asked for, the conversation's own words) is what
keeps unanswerable follow-ups refused (dev conversations: refusal recall 0.71 against 0.14). Refusing when either
refuses catches more twins but refuses more answerable questions (dev: 5 % and 18 % of them, against the 3 % the
issue allows), so the trained reader's refusal only hands the answer back to the rules.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Sequence

from ..models import Answer, Citation, Passage
from .rules import ExtractiveAnswerer
from .trained.answerer import ReaderAnswerer, trained_answerer

if TYPE_CHECKING:
    from ..backends import Answerer
    from ..config import Settings
    from ..retrieve import Index

NAME = "combined"


class CombinedAnswerer:
    """The rules' answer-or-refuse decision with the trained reader's sentence, short answer and confidence."""

    def __init__(self, rules: ExtractiveAnswerer, reader: ReaderAnswerer) -> None:
        self.rules = rules
        self.reader = reader

    def answer(self, question: str, passages: Sequence[Passage], resolved: str = "",
               near: Sequence[Citation] = ()) -> Answer:
        """Refuse when the rules refuse; otherwise quote the trained reader's sentence (the rules' own window when
        the trained reader finds nothing worth quoting)."""
        ruled = self.rules.answer(question, passages, resolved=resolved, near=near)
        if ruled.refused:
            return replace(ruled, reader=NAME)
        read = self.reader.answer(question, passages, resolved=resolved)
        if read.refused:
            return replace(ruled, reader=NAME)
        return replace(read, reader=NAME)


def combined_answerer(index: "Index", settings: "Settings", progress: Callable[[str], None]) -> "Answerer":
    """The combined reader; the rules alone, with the trained reader's Arabic note, when that reader cannot load."""
    trained = trained_answerer(index, settings, progress)
    if not isinstance(trained, ReaderAnswerer):
        return trained  # the rules, saying in every answer why the trained reader is missing
    return CombinedAnswerer(ExtractiveAnswerer(index), trained)
