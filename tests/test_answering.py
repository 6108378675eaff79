"""The web chat's answering child process: the same answers and errors as in process, and it survives a kill."""

from __future__ import annotations

import os
import shutil
import signal

import pytest

from assistant.answering import AnswerProcess
from assistant.errors import QuestionError
from assistant.service import Assistant

from conftest import ARTICLE, ARTICLE_ID, make_settings


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("answering")
    settings = make_settings(home)
    shutil.copy(ARTICLE, settings.sources / ARTICLE.name)
    assistant = Assistant(settings)
    assistant.sync()
    child = AnswerProcess(settings)
    try:
        yield assistant, child
    finally:
        child.close()


def test_the_child_answers_as_the_serving_process_would(served) -> None:  # type: ignore[no-untyped-def]
    assistant, child = served
    assert child.warm_up() >= 0
    for q, history in (("كم عدد الدول التي شاركت في الجمعية العامة؟", None), ("ومتى؟", ["أين انعقدت الجمعية العامة؟"]),
                       ("ما هي عاصمة اليابان؟", None)):
        here, there = assistant.ask(q, history=history), child.ask(q, history=history)
        assert there.to_dict() == here.to_dict()
    got = child.ask("كم عدد الدول التي شاركت في الجمعية العامة؟", exclude_sources=[ARTICLE_ID])
    assert got.refused and not got.citations


def test_errors_come_back_as_themselves(served) -> None:  # type: ignore[no-untyped-def]
    _, child = served
    with pytest.raises(QuestionError) as err:
        child.ask("   ")
    assert err.value.key == "empty_question"
    with pytest.raises(QuestionError) as err:
        child.ask("س" * 100_000)
    assert err.value.key == "question_too_long" and err.value.values["length"] == 100_000


def test_a_killed_child_is_replaced(served) -> None:  # type: ignore[no-untyped-def]
    _, child = served
    first = child.ask("كم عدد الدول التي شاركت في الجمعية العامة؟")
    pids = [p.pid for p in child._pool._processes.values()]  # noqa: SLF001 - the child to kill
    assert len(pids) == 1 and pids[0] != os.getpid()
    os.kill(pids[0], signal.SIGKILL)
    again = child.ask("كم عدد الدول التي شاركت في الجمعية العامة؟")
    assert again.to_dict() == first.to_dict()
    assert [p.pid for p in child._pool._processes.values()] != pids  # noqa: SLF001


def test_questions_asked_at_once_each_get_their_own_answer(served) -> None:  # type: ignore[no-untyped-def]
    """Questions waiting together are embedded in one pass; each caller gets its own answer or error."""
    from concurrent.futures import ThreadPoolExecutor

    assistant, child = served
    asked = ["كم عدد الدول التي شاركت في الجمعية العامة؟", "أين انعقدت الجمعية العامة؟", "   ",
             "ما هي عاصمة اليابان؟", "متى انعقدت الدورة الثالثة والتسعون؟"] * 4
    sent: list[str] = []
    pool = child._pool  # noqa: SLF001 - counting what goes to the child
    real = pool.submit

    def counted(fn, *args):  # type: ignore[no-untyped-def]
        sent.append(fn.__name__)
        return real(fn, *args)

    pool.submit = counted

    def ask(q: str):  # type: ignore[no-untyped-def]
        try:
            return child.ask(q).to_dict()
        except QuestionError as exc:
            return exc.key

    try:
        with ThreadPoolExecutor(len(asked)) as pool:
            got = list(pool.map(ask, asked))
    finally:
        pool.submit = real
    for q, there in zip(asked, got):
        assert there == ("empty_question" if not q.strip() else assistant.ask(q).to_dict())
    assert sent.count("_ask") == len(asked) and "_embed_ahead" in sent  # some questions shared one pass of the model
