"""The terminal speaks Arabic: every command's help, and argparse's own words when a command line is mistyped."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from conftest import ROOT

from assistant import cli

COMMANDS = ("ask", "ingest", "sources", "add", "remove", "chat", "user", "eval", "train-reader")
USER_COMMANDS = ("add", "remove", "list", "token")
# what argparse prints in English when nobody translates it
ENGLISH = ("usage:", "options:", "positional arguments", "show this help", "error:", "invalid choice", "required",
           "unrecognized arguments", "expected one argument", "invalid int value")


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {"HOME": tmp_path / "home", "EMBED_MODEL": "hash", "PROMPTS_DIR": ROOT / "prompts"}.items():
        monkeypatch.setenv(f"ASSISTANT_{k}", str(v))


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out + err


def _latin_words(text: str) -> set[str]:
    """Latin words of a help text, less the command line's own names (commands, options, choices, metavars)."""
    text = re.sub(r"(train-reader|--?[\w-]+|\{[^}]*\}|\b[A-Z_]+\b|assistant|SQuAD|JSON|FILE|Chroma|admin|reader|[\w./-]*\.json)", " ",
                  text)
    return {w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in COMMANDS + USER_COMMANDS}


@pytest.mark.parametrize("argv", [[], *([c] for c in COMMANDS), ["user", "add"]])
def test_every_help_is_arabic(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    rc, text = _run([*argv, "--help"], capsys)
    assert rc == 0 and "الاستعمال:" in text and "اعرض هذه المساعدة" in text
    assert not any(e in text for e in ENGLISH), text
    assert not _latin_words(text), (argv, _latin_words(text))


@pytest.mark.parametrize("argv, arabic", [
    (["ask", "--mode", "foo", "x"], "اختيار غير صالح"),
    (["frob"], "اختيار غير صالح"),
    (["remove"], "هذه المعاملات مطلوبة"),
    (["chat", "--port", "abc"], "قيمة غير صالحة"),
    (["ask", "--source"], "يُنتظر بعده قيمة واحدة"),
    (["sources", "--bogus"], "معاملات غير معروفة"),
])
def test_a_mistyped_command_line_is_told_in_arabic(argv: list[str], arabic: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rc, text = _run(argv, capsys)
    assert rc == 2 and arabic in text and "خطأ" in text and "الاستعمال:" in text
    assert not any(e in text for e in ENGLISH), text


def test_a_mistyped_json_command_line_still_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    """``--json`` promises exactly one JSON object on stdout, also when the command line itself is wrong."""
    with pytest.raises(SystemExit) as exc:
        cli.main(["ask", "--json", "--mode", "foo", "x"])
    out, err = capsys.readouterr()
    assert exc.value.code == 2
    got = json.loads(out)
    assert got["error"]["key"] == "usage" and "اختيار غير صالح" in got["error"]["message"]
    assert "اختيار غير صالح" in err  # and said on stderr as before


def test_argparse_is_left_as_it_was(capsys: pytest.CaptureFixture[str]) -> None:
    """The Arabic words are lent to argparse for the assistant's own command line only."""
    _run(["frob"], capsys)
    other = argparse.ArgumentParser(prog="other")
    assert "usage:" in other.format_usage() and "options:" in other.format_help()


def test_a_prompts_folder_without_the_terminal_words_falls_back_to_the_shipped_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A person's own prompts folder copied before ``cli.yaml`` existed still gets an Arabic terminal."""
    own = tmp_path / "own-prompts"
    own.mkdir()
    for name in ("messages.yaml", "ui.yaml"):
        (own / name).write_text((ROOT / "prompts" / name).read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("ASSISTANT_PROMPTS_DIR", str(own))
    rc, text = _run(["ask", "--help"], capsys)
    assert rc == 0 and "اطرح سؤالًا" in text
