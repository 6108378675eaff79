"""The terminal's arguments, in Arabic: every command's help from ``prompts/cli.yaml``, and argparse's own words too.

argparse passes each of its messages («usage:», «invalid choice», «the following arguments are required») through
gettext; while the parser is built and run, those calls are answered from the same file, so that a mistyped option
gets an Arabic line like every other bad input. Python ships no Arabic catalogue for argparse, and installing a
compiled one would change gettext's default domain for the whole process.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn, Sequence

from .messages import catalogue


@contextmanager
def arabic_argparse(words: dict[str, str]) -> Iterator[None]:
    """Inside the block argparse's messages come from ``words`` (its English text -> Arabic); unknown ones stay."""
    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]
    setattr(argparse, "_", lambda text: words.get(text, text))
    setattr(argparse, "ngettext", lambda one, many, n: words.get(one if n == 1 else many, one if n == 1 else many))
    try:
        yield
    finally:
        setattr(argparse, "_", saved[0])
        setattr(argparse, "ngettext", saved[1])


def parse(argv: Sequence[str] | None, folder: Path | None = None) -> argparse.Namespace:
    """The command line read into a namespace (``--help`` and mistakes answered in Arabic, exiting as argparse does;
    a command line holding ``--json`` also gets its mistake as the one JSON object it promises on stdout)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    texts = catalogue("cli.yaml", folder)
    parser_class = _JsonErrors if "--json" in argv else argparse.ArgumentParser
    with arabic_argparse({str(k): str(v) for k, v in (texts.get("argparse") or {}).items()}):
        return build(texts, parser_class).parse_args(argv)


class _JsonErrors(argparse.ArgumentParser):
    """A parser whose mistakes are also printed as ``{"error": {"key": "usage", "message": …}}`` (what ``--json``
    callers read for every other error, cli._fail) before argparse says them on stderr and exits 2."""

    def error(self, message: str) -> NoReturn:
        """Say the mistake as one JSON object, then as argparse does."""
        print(json.dumps({"error": {"key": "usage", "message": f"{self.prog}: {message}"}}, ensure_ascii=False),
              flush=True)
        super().error(message)


def build(texts: dict[str, Any], parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser
          ) -> argparse.ArgumentParser:
    """The parser of every command, its help texts taken from ``texts`` (``cli.yaml`` as data)."""
    helps: dict[str, str] = {str(k): str(v) for k, v in (texts.get("cli_help") or {}).items()}
    h: Callable[[str], str | None] = helps.get
    names: dict[str, str] = {str(k): str(v) for k, v in (texts.get("cli_metavars") or {}).items()}
    m: Callable[[str], str | None] = names.get
    parser = parser_class(prog="assistant", description=texts.get("cli_description"), epilog=texts.get("cli_epilog"))
    sub = parser.add_subparsers(dest="command", required=True, metavar=h("command"))
    p_ask = sub.add_parser("ask", help=h("ask"), description=h("ask"))
    p_ask.add_argument("question", nargs="*", metavar=m("question"), help=h("ask.question"))
    p_ask.add_argument("--json", action="store_true", help=h("ask.--json"))
    p_ask.add_argument("--mode", choices=["hybrid", "keyword", "dense"], default="hybrid", help=h("ask.--mode"))
    p_ask.add_argument("--source", action="append", default=[], metavar="ID", help=h("ask.--source"))
    sub.add_parser("ingest", help=h("ingest"), description=h("ingest"))
    p_src = sub.add_parser("sources", help=h("sources"), description=h("sources"))
    p_src.add_argument("--json", action="store_true", help=h("sources.--json"))
    p_add = sub.add_parser("add", help=h("add"), description=h("add"))
    p_add.add_argument("paths", nargs="+", type=Path, metavar=m("paths"), help=h("add.paths"))
    p_add.add_argument("--replace", action="store_true", help=h("add.--replace"))
    p_rm = sub.add_parser("remove", help=h("remove"), description=h("remove"))
    p_rm.add_argument("source_id", metavar=m("source_id"), help=h("remove.source_id"))
    p_chat = sub.add_parser("chat", help=h("chat"), description=h("chat"))
    p_chat.add_argument("--host", default=None, help=h("chat.--host"))
    p_chat.add_argument("--port", type=int, default=None, help=h("chat.--port"))
    for flag in ("--no-ingest", "--allow-anonymous", "--read-only"):
        p_chat.add_argument(flag, action="store_true", help=h(f"chat.{flag}"))
    _users(sub.add_parser("user", help=h("user"), description=h("user")), h, m("name"))
    p_eval = sub.add_parser("eval", help=h("eval"), description=h("eval"))
    p_eval.add_argument("sets", nargs="*", type=Path, metavar=m("sets"), help=h("eval.sets"))
    p_eval.add_argument("--squad", type=Path, default=None, help=h("eval.--squad"))
    p_eval.add_argument("--limit", type=int, default=None, help=h("eval.--limit"))
    p_eval.add_argument("--compare", action="store_true", help=h("eval.--compare"))
    p_eval.add_argument("--no-gate", action="store_true", help=h("eval.--no-gate"))
    p_eval.add_argument("--distractors", nargs="+", metavar=("FILE", "N"), default=None, help=h("eval.--distractors"))
    p_tr = sub.add_parser("train-reader", help=h("train-reader"), description=h("train-reader"))
    p_tr.add_argument("files", nargs="*", type=Path, metavar=m("files"), help=h("train-reader.files"))
    p_tr.add_argument("--epochs", type=int, default=2, help=h("train-reader.--epochs"))
    p_tr.add_argument("--out", type=Path, default=None, help=h("train-reader.--out"))
    p_tr.add_argument("--keep-span-head", action="store_true", help=h("train-reader.--keep-span-head"))
    return parser


def _users(p_user: argparse.ArgumentParser, h: Callable[[str], str | None], name: str | None) -> None:
    """``assistant user add|remove|list|token``."""
    users = p_user.add_subparsers(dest="user_command", required=True, metavar=h("user.command"))
    p_uadd = users.add_parser("add", help=h("user.add"), description=h("user.add"))
    p_uadd.add_argument("name", metavar=name, help=h("user.add.name"))
    p_uadd.add_argument("--role", choices=["admin", "reader"], default="reader", help=h("user.add.--role"))
    p_uadd.add_argument("--password-stdin", action="store_true", help=h("user.add.--password-stdin"))
    users.add_parser("remove", help=h("user.remove")).add_argument("name", metavar=name, help=h("user.remove.name"))
    users.add_parser("list", help=h("user.list"))
    users.add_parser("token", help=h("user.token")).add_argument("name", metavar=name, help=h("user.token.name"))
