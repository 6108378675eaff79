"""The answerer behind the assistant when the trained reader is on: choose, decide, quote, cite."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..messages import message
from ..models import Answer, Citation, Passage, ShortAnswer
from .candidates import gather
from .model import TrainedReader

if TYPE_CHECKING:
    from ..retrieve import Index


class ReaderAnswerer:
    """Answers with the trained reader: the best sentence quoted, its span as the short answer, or a refusal."""

    def __init__(self, index: "Index", reader: TrainedReader) -> None:
        self.index = index
        self.reader = reader

    def answer(self, question: str, passages: Sequence[Passage], resolved: str = "") -> Answer:
        """Answer from retrieved passages, or refuse when the reader finds that they do not answer."""
        asked = resolved or question
        cands = gather(self.index, passages)
        texts = {c.source_id: self.index.sources[c.source_id].text for c in cands}
        reading = self.reader.read(asked, self.index.query_vector(asked), cands, texts) if cands else None
        if reading is None or not reading.answers:
            return Answer(question=question, text=message("refusal"), refused=True, resolved_question=asked,
                          passages=tuple(passages), confidence=reading.answer_prob if reading else 0.0,
                          reader="trained")
        c = reading.candidate
        src = self.index.sources[c.source_id]
        s, e = reading.window
        citation = Citation(n=1, source_id=src.source_id, title=src.title, paragraph=c.paragraph, start=s, end=e,
                            quote=src.text[s:e], origin=src.origin, date=src.date, score=round(reading.sentence_prob, 4))
        ss, se = reading.span
        short = ShortAnswer(text=src.text[ss:se], source_id=src.source_id, start=ss, end=se, citation=1)
        return Answer(question=question, text=f"{src.text[s:e]} [1]", refused=False, citations=(citation,),
                      resolved_question=asked, passages=tuple(passages), confidence=reading.answer_prob,
                      short_answer=short, reader="trained")

    def supports(self, question: str, passage: Passage) -> bool:
        """Whether the reader, reading the passage's paragraph, picks that passage and finds that it answers."""
        import numpy as np

        from .features import Candidate

        chunks = self.index.paragraph_chunks(passage.source_id, passage.paragraph)
        cands = [Candidate(passage.source_id, passage.paragraph, s, e, t, np.asarray(v, dtype=np.float32), i, len(chunks))
                 for i, (_, s, e, t, v) in enumerate(chunks)]
        src = self.index.sources.get(passage.source_id)
        if not cands or src is None:
            return False
        reading = self.reader.read(question, self.index.query_vector(question), cands, {src.source_id: src.text})
        if reading is None or not reading.answers:
            return False
        c = reading.candidate
        return c.start < passage.end and passage.start < c.end
