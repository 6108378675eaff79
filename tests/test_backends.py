"""Backends are chosen by name from registries, or passed in as instances through build_assistant."""

from __future__ import annotations

from typing import Sequence

import pytest

from assistant import backends
from assistant.errors import UserError
from assistant.ingest import sync
from assistant.models import Answer, Citation, Passage
from assistant.service import build_assistant
from conftest import make_settings
from fakes import HashEmbedding

QUESTION = "كم عدد الدول التي شاركت في الجمعية العامة؟"


class FirstPassage:
    """A fake reader: quotes the first retrieved passage whole."""

    def __init__(self, index) -> None:  # type: ignore[no-untyped-def]
        self.index = index

    def answer(self, question: str, passages: Sequence[Passage], resolved: str = "") -> Answer:
        p = passages[0]
        cite = Citation(n=1, source_id=p.source_id, title="", paragraph=p.paragraph, start=p.start, end=p.end, quote=p.text)
        return Answer(question=question, text=f"{p.text} [1]", refused=False, citations=(cite,), reader="first")


def test_fakes_pass_in_through_build_assistant(article_home) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(article_home)
    sync(settings)
    embedder = HashEmbedding()
    a = build_assistant(settings, embedder=embedder, answerer=lambda index, s, say: FirstPassage(index))
    ans = a.ask(QUESTION)
    assert ans.reader == "first" and ans.citations[0].quote in a._load()[0].sources[ans.citations[0].source_id].text
    assert a._load()[0].embed_model is embedder
    assert isinstance(embedder, backends.Embedder) and isinstance(a._load()[1], backends.Answerer)


def test_a_registered_reader_is_chosen_by_the_setting(article_home, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(backends.ANSWERERS, "first", lambda index, s, say: FirstPassage(index))
    settings = make_settings(article_home, reader="first")
    sync(settings)
    assert build_assistant(settings).ask(QUESTION).reader == "first"


def test_an_unknown_reader_is_a_user_error(article_home) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(article_home, reader="oracle")
    sync(settings)
    with pytest.raises(UserError) as err:
        build_assistant(settings).ask(QUESTION)
    assert "oracle" in err.value.text() and "rules" in err.value.text()


def test_the_hash_embedder_is_registered_by_the_test_plugin() -> None:
    assert "hash" in backends.EMBEDDERS
    vec = backends.embedder("hash", make_settings.__globals__["model_cache"]()).get_query_embedding("سؤال")
    assert len(vec) == HashEmbedding().dim


def test_a_reader_that_takes_no_previous_answer_still_answers_follow_ups(article_home) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(article_home)
    sync(settings)
    a = build_assistant(settings, embedder=HashEmbedding(), answerer=lambda index, s, say: FirstPassage(index))
    ans = a.ask("ومتى؟", history=["أين انعقدت الجمعية العامة للإنتربول؟"])
    assert ans.reader == "first" and ans.followup_of and ans.followup_near  # the earlier answer was found; not passed on
