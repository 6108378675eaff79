"""The default reader: the rules decide whether the sources answer, the trained reader chooses what to quote.

Chosen on dev data (the XQuAD-ar dev split, `evals/dev/xquad-dev.yaml`, and the dev conversations,
`evals/dev/xquad-followups-dev.yaml`), never on the gated suites. Alone, each reader is strong where the other is
weak: the trained reader picks the sentence that holds the fact better (dev facts 0.719 against the rules' 0.612),
while the rules' refusal (a window that holds the kind of thing asked for, the conversation's own words) is what
keeps unanswerable follow-ups refused (dev conversations: refusal recall 0.71 against 0.14). Refusing when either
refuses catches more twins but refuses more answerable questions (dev: 5 % and 18 % of them, against the 3 % the
issue allows), so the trained reader's refusal only hands the answer back to the rules, and the rules' refusal
stands unless the trained reader is nearly sure (``OVERRIDE``: dev facts 0.691 -> 0.702, answerable questions
refused 3.4 % -> 2.2 %, no twin less refused). One check of the kind of answer stays with the rules: a «كم» question's
quote must hold a number that counts the noun asked about, and when only the rules' window does, it stands.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Sequence

from .. import arabic
from ..models import Answer, Citation, Passage, ShortAnswer
from .rules import Asked, ExtractiveAnswerer
from .trained.spans import grow, tokens
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
        trained reader's sentence (the rules' own window when the trained reader finds nothing worth quoting, or when
        only that window holds a number counting what a number question counts)."""
        ruled = self.rules.answer(question, passages, resolved=resolved, near=near)
        read = self.reader.answer(question, passages, resolved=resolved)
        # the confidence is always the trained reader's calibrated probability that the answer holds the fact, never
        # the rules' score (another scale): when the rules' words stand, it says how little the reader believes them
        if ruled.refused:
            sure = not read.refused and read.confidence >= OVERRIDE
            return replace(read if sure else ruled, reader=NAME, confidence=read.confidence)
        asked = Asked.read(resolved or question, question)
        if read.refused:  # the rules' words stand; a number they hold that counts what is asked is the short answer
            return replace(ruled, reader=NAME, confidence=read.confidence, short_answer=self._counted(asked, ruled))
        if not any(asked.counted_in(arabic.words(c.quote)) for c in read.citations):
            counted = self._counted(asked, ruled)
            if counted is not None:
                return replace(ruled, reader=NAME, confidence=read.confidence, short_answer=counted)
        return replace(read, reader=NAME)

    def _counted(self, asked: Asked, ruled: Answer) -> ShortAnswer | None:
        """The number in the rules' quote that counts the noun a number question counts («181» of «181 دولة» for «كم
        عدد الدول المشاركة؟»), or None (not such a question, no such number).

        When the trained reader's quote holds no number counting that noun and the rules' quote does («43 اجتماعًا»
        against «181 دولة»), the rules' quote stands. Chosen on dev: XQuAD-ar dev facts 0.725 -> 0.730, news dev
        0.579 -> 0.614, news-more 0.689 -> 0.695 (5 answers won, none lost), the dev conversations unchanged. Looser
        checks lost facts there: any question word near the number (rather than the counted noun itself), or the
        same check for dates, places and names."""
        if not asked.noun or asked.qtype != "number" or not ruled.citations:
            return None
        first = ruled.citations[0]
        text = self.rules.index.sources[first.source_id].text
        toks = tokens(text, first.start, first.end)
        found = asked.counts_noun([t.norm for t in toks])
        if not found:
            return None
        i, j = grow(text, toks, found[0], found[0], lambda t: arabic.is_number_token(t.norm))  # «200 ألف»
        return ShortAnswer(text=text[toks[i].start:toks[j].end], source_id=first.source_id, start=toks[i].start,
                           end=toks[j].end, citation=first.n)


def combined_answerer(index: "Index", settings: "Settings", progress: Callable[[str], None]) -> "Answerer":
    """The combined reader; the rules alone, with the trained reader's Arabic note, when that reader cannot load."""
    trained = trained_answerer(index, settings, progress)
    if not isinstance(trained, ReaderAnswerer):
        return trained  # the rules, saying in every answer why the trained reader is missing
    return CombinedAnswerer(ExtractiveAnswerer(index), trained)
