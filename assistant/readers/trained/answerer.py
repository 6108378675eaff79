"""The answerer behind the assistant when the trained reader is on: choose, decide, quote, cite."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ...chat import asks_own_words
from ...errors import ReaderUnavailable
from ...messages import message
from ...models import Answer, Citation, Passage, ShortAnswer
from .candidates import gather
from .model import ARTEFACT, TrainedReader, attach, load

if TYPE_CHECKING:
    from ...backends import Answerer
    from ...config import Settings
    from ...retrieve import Index

_READERS: dict[tuple[str, int], TrainedReader] = {}  # (artefact, base model) -> the reader, loaded once per process
_LOCK = threading.Lock()
log = logging.getLogger(__name__)


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
        if cands and asked != question and asks_own_words(question):
            # a follow-up is read twice, as completed and as typed: the earlier question's words, there to find the
            # paragraph, can pull the reading back to the sentence that answered it (dev conversations 0.681 -> 0.702)
            typed = self.reader.read(question, self.index.query_vector(question), cands, texts)
            if typed is not None and typed.answers and (reading is None or not reading.answers
                                                         or typed.answer_prob > reading.answer_prob):
                reading = typed
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


class NotedAnswerer:
    """The rule answerer standing in for the trained reader, saying why in every answer's ``reader_note``."""

    def __init__(self, inner: "Answerer", note: str) -> None:
        self.inner = inner
        self.note = note

    def answer(self, question: str, passages: Sequence[Passage], resolved: str = "",
               near: Sequence[Citation] = ()) -> Answer:
        """The inner answerer's answer (a follow-up's ``near`` passed on), with the note."""
        from ...backends import answer_with

        return replace(answer_with(self.inner, question, passages, resolved, near), reader_note=self.note)


def trained_answerer(index: "Index", settings: "Settings", progress: Callable[[str], None]) -> "Answerer":
    """The trained reader over the index's own e5 model; the rules, with an Arabic note, when it cannot load."""
    from ..rules import ExtractiveAnswerer

    try:
        path = Path(settings.reader_path or ARTEFACT)
        if path.is_dir():  # the folder `train-reader --out DIR` wrote
            path = path / ARTEFACT.name
        reader = _reader(path, index.embed_model, settings, progress)
    except ReaderUnavailable as exc:
        note = exc.text(settings.prompts)
        progress(note)
        return NotedAnswerer(ExtractiveAnswerer(index), note)
    return ReaderAnswerer(index, reader)


def _reader(path: Path, embed_model: Any, settings: "Settings", progress: Callable[[str], None]) -> TrainedReader:
    """The reader at ``path`` with its span head, loaded once per process."""
    key = (str(path.resolve()), id(embed_model))
    with _LOCK:
        if key not in _READERS:
            reader = load(path)
            if reader.neural_state is not None:
                reader = _with_span_head(reader, embed_model, settings, progress)
            _READERS[key] = reader
        return _READERS[key]


def _with_span_head(reader: TrainedReader, embed_model: Any, settings: "Settings",
                    progress: Callable[[str], None]) -> TrainedReader:
    """The span head on ONNX Runtime (no torch on the question path); on torch when that runtime fails."""
    from ...e5_small import E5_SMALL_DIRNAME, prepare_e5_small

    try:
        from .onnx_span import onnx_span_reader

        folder = prepare_e5_small(settings.cache_dir / E5_SMALL_DIRNAME, progress)
        span = onnx_span_reader(folder, reader.neural_state, str(reader.meta.get("span_head_sha256", "")),
                                settings.cache_dir, progress, getattr(embed_model, "tokenizer", None))
        return replace(reader, neural=span)
    except Exception as exc:  # noqa: BLE001  (any failure of the optional runtime: torch reads alike)
        log.warning("ONNX Runtime unavailable for the span head (%s); using torch", exc)
        return attach(reader, *_span_base(embed_model, settings))


def _span_base(embed_model: Any, settings: "Settings"):  # type: ignore[no-untyped-def]
    """The e5-small BertModel and tokenizer the span head sits on: the embedder's own when it is e5-small."""
    st = getattr(embed_model, "_model", None)
    try:
        bert = st[0].auto_model  # type: ignore[index]
        if getattr(bert.config, "hidden_size", 0) == 384 and getattr(bert.config, "vocab_size", 0) > 250000:
            return bert, st.tokenizer  # type: ignore[union-attr]
    except (TypeError, AttributeError, IndexError, KeyError):
        pass
    from ...e5_small import E5_SMALL_DIRNAME, prepare_e5_small
    from .neural import load_base

    return load_base(prepare_e5_small(settings.cache_dir / E5_SMALL_DIRNAME, lambda _m: None))
