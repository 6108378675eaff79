"""The default reader: the rules decide whether the sources answer, the trained reader chooses what to quote.

Chosen on dev data (the XQuAD-ar dev split, `evals/dev/xquad-dev.yaml`, and the dev conversations,
`evals/dev/xquad-followups-dev.yaml`), never on the gated suites. Alone, each reader is strong where the other is
weak: the trained reader picks the sentence that holds the fact better (dev facts 0.719 against the rules' 0.612),
while the rules' refusal (a window that holds the kind of thing asked for, the conversation's own words) is what
keeps unanswerable follow-ups refused (dev conversations: refusal recall 0.71 against 0.14). Refusing when either
refuses catches more twins but refuses more answerable questions (dev: 5 % and 18 % of them, against the 3 % the
issue allows), so the trained reader's refusal only hands the answer back to the rules, and the rules' refusal
stands unless the trained reader is nearly sure (``OVERRIDE``: dev facts 0.691 -> 0.702, answerable questions
refused 3.4 % -> 2.2 %, no twin less refused).
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
# The trained reader overrides the rules' refusal only when its calibrated probability reaches this. Chosen on the two
# dev sets by train-reader's own criterion (fact accuracy plus refusal recall, at most 3 % of answerable questions
# refused), summed over both: 0.7 -> 2.02, 0.8 -> 2.12, 0.9 -> 2.27, 0.95 -> 2.23, never -> 2.25 (and 3.4 % refused).
OVERRIDE = 0.9


class CombinedAnswerer:
    """The rules' answer-or-refuse decision with the trained reader's sentence, short answer and confidence."""

    def __init__(self, rules: ExtractiveAnswerer, reader: ReaderAnswerer) -> None:
        self.rules = rules
        self.reader = reader

    def answer(self, question: str, passages: Sequence[Passage], resolved: str = "",
               near: Sequence[Citation] = ()) -> Answer:
        """Refuse when the rules refuse (unless the trained reader is nearly sure: ``OVERRIDE``); otherwise quote the
        trained reader's sentence (the rules' own window when the trained reader finds nothing worth quoting)."""
        ruled = self.rules.answer(question, passages, resolved=resolved, near=near)
        read = self.reader.answer(question, passages, resolved=resolved)
        # the confidence is always the trained reader's calibrated probability that the answer holds the fact, never
        # the rules' score (another scale): when the rules' words stand, it says how little the reader believes them
        if ruled.refused:
            sure = not read.refused and read.confidence >= OVERRIDE
            return replace(read if sure else ruled, reader=NAME, confidence=read.confidence)
        if read.refused:
            return replace(ruled, reader=NAME, confidence=read.confidence)
        return replace(read, reader=NAME)


def combined_answerer(index: "Index", settings: "Settings", progress: Callable[[str], None]) -> "Answerer":
    """The combined reader; the rules alone, with the trained reader's Arabic note, when that reader cannot load."""
    trained = trained_answerer(index, settings, progress)
    if not isinstance(trained, ReaderAnswerer):
        return trained  # the rules, saying in every answer why the trained reader is missing
    return CombinedAnswerer(ExtractiveAnswerer(index), trained)
