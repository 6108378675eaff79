"""A question as a person typed it: checked before anything is searched."""

from __future__ import annotations

from .errors import QuestionError


def validate_question(question: str | None, limit: int) -> str:
    """The question stripped, or QuestionError for an empty or over-long one."""
    q = (question or "").strip()
    if not q or not any(ch.isalnum() for ch in q):
        raise QuestionError("empty_question")
    if len(q) > limit:
        raise QuestionError("question_too_long", length=len(q), limit=limit)
    return q
