"""Plain data passed between the library and its faces (CLI, web chat, evaluation runner)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Source:
    """One source document as the index keeps it: cleaned text plus metadata."""

    source_id: str
    title: str
    text: str
    content_hash: str
    origin: str = ""
    date: str = ""
    language: str = "ar"
    added: str = ""
    chunks: int = 0
    path: str = ""
    owner: str = ""  # the user whose private upload this is; "" for a shared source
    version: int = 1  # 1, then one more each time its content changes (an edit, or ``add --replace``)
    pages: tuple[int, ...] = ()  # where each page starts in ``text`` (paged sources only)
    updated: str = ""  # when its content last changed ("" while it is the first version)
    file_hash: str = ""  # sha256 of the file's bytes: a sync does not read (parse, OCR) an unchanged file again

    def summary(self) -> dict[str, Any]:
        """Metadata without the text, for listings."""
        d = asdict(self)
        d.pop("text")
        return d


@dataclass(frozen=True)
class Citation:
    """A cited passage: ``quote == source.text[start:end]``."""

    n: int
    source_id: str
    title: str
    paragraph: int
    start: int
    end: int
    quote: str
    origin: str = ""
    date: str = ""
    score: float = 0.0
    page: int = 0  # the page of a paged source (PDF, scan) the quote starts on; 0 when the source has no pages


@dataclass(frozen=True)
class ShortAnswer:
    """The answer's span inside its cited sentence: ``source.text[start:end] == text``."""

    text: str
    source_id: str
    start: int
    end: int
    citation: int = 1  # the citation (its ``n``) whose quote holds the span


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its scores (what the answerers choose from)."""

    node_id: str
    source_id: str
    title: str
    paragraph: int
    start: int
    end: int
    text: str
    score: float
    keyword_score: float = 0.0
    dense_score: float = 0.0
    origin: str = ""
    date: str = ""


@dataclass(frozen=True)
class Answer:
    """The one answer object every face renders."""

    question: str
    text: str
    refused: bool
    citations: tuple[Citation, ...] = ()
    resolved_question: str = ""
    passages: tuple[Passage, ...] = field(default=(), repr=False)
    confidence: float = 0.0
    backend: str = "extractive"
    short_answer: ShortAnswer | None = None
    reader: str = "rules"  # which reader decided: "combined", "trained", or "rules" (configured, or a fallback)
    reader_note: str = ""  # why the rules answered when the trained reader was wanted (Arabic, for people)
    followup_of: str = ""  # the earlier question whose topic completed this one ("" when it stood alone)
    followup_near: tuple[str, ...] = ()  # "source#paragraph" of the previous answer, where a follow-up looked first

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``answer``, ``refused``, ``citations`` and the rest."""
        d: dict[str, Any] = {
            "question": self.question,
            "resolved_question": self.resolved_question or self.question,
            "answer": self.text,
            "refused": self.refused,
            "confidence": round(self.confidence, 4),
            "backend": self.backend,
            "citations": [asdict(c) for c in self.citations],
            "short_answer": asdict(self.short_answer) if self.short_answer else None,
            "reader": self.reader,
            "reader_note": self.reader_note,
            "followup_of": self.followup_of,
            "followup_near": list(self.followup_near),
        }
        return d
