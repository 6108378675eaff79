"""The terminal face: ``assistant ask|ingest|sources|add|remove|chat|eval``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

EXIT_USER = 2


def _err(text: str) -> None:
    print(text, file=sys.stderr)


def _progress(text: str) -> None:
    print(f"… {text}", file=sys.stderr, flush=True)


def render_answer(answer) -> str:  # type: ignore[no-untyped-def]
    """The answer and its sources as readable terminal text.

    The short answer (the answer's span), when there is one, comes first on a line of its own; the reader's
    note (why the rule answerer answered when the trained reader was wanted), when there is one, comes last.
    """
    import re

    from .messages import message, number

    lines = []
    short = answer.short_answer
    if short is not None and not answer.refused and short.text.strip():
        lines.append(message("short_answer_line", text=short.text.strip()))
    if answer.resolved_question and answer.resolved_question != answer.question:
        lines.append(f"({answer.resolved_question})")
    cited = {c.n for c in answer.citations}  # only real markers are written in the chosen digits, never source text
    lines.append(re.sub(r"\[(\d{1,3})\]", lambda m: f"[{number(int(m.group(1)))}]" if int(m.group(1)) in cited
                        else m.group(0), answer.text))
    if answer.citations:
        lines += ["", message("citations_header")]
        for c in answer.citations:
            where = message("citation_where", title=c.title, paragraph=c.paragraph, start=c.start, end=c.end)
            if c.page:
                where += "، " + message("citation_page", page=c.page)
            lines.append(f"[{number(c.n)}] {where}")
            lines.append(f"    «{c.quote}»")
    note = (answer.reader_note or "").strip()
    if note:
        lines += ["", message("reader_note_line", note=note)]
    return "\n".join(lines)


def _line(text: str) -> str:
    """A value on one line: control characters (a newline in a file name) shown escaped, not obeyed."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in str(text))


def _report(report) -> int:  # type: ignore[no-untyped-def]
    from .messages import message

    if report.touched:
        print(message("index_summary", added=len(report.added), changed=len(report.changed),
                      removed=len(report.removed), unchanged=len(report.unchanged)))
    else:
        print(message("index_unchanged"))
    for name, reason in report.failed.items():
        _err(f"✗ {reason}")
    return 1 if report.failed else 0


def _train_reader(settings, args) -> int:  # type: ignore[no-untyped-def]
    from .messages import message
    from .readers.trained.train import DEFAULT_DATA, run

    files = list(args.files) or [settings.home / f for f in DEFAULT_DATA]
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        _err(message("train_data_missing", files=", ".join(missing)))
        return EXIT_USER
    try:
        result = run(settings, files, settings.cache_dir / "reader-train", _progress, epochs=args.epochs, out_dir=args.out,
                     keep_span_head=args.keep_span_head)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:  # json errors are ValueErrors
        _err(message("train_data_bad", files=", ".join(map(str, files)), error=f"{type(exc).__name__}: {exc}"[:300]))
        return EXIT_USER
    from .readers.trained.card import table_markdown

    print(f"design: {result['design']}  sha256: {result['sha256']}")
    print("dev:\n" + table_markdown(result["table"], "dev"))
    print("held-out:\n" + table_markdown(result["table"], "heldout"))
    return 0


def cmd_ask(settings, args) -> int:  # type: ignore[no-untyped-def]
    """``assistant ask QUESTION``: the answer with its citations (``--json``: one JSON object)."""
    from . import store
    from .question import validate_question
    from .service import build_assistant

    validate_question(" ".join(args.question), settings.max_question_chars)  # a bad question is said first
    if store.current_generation(settings.index) is None:
        raise store.NoIndex()
    answer = build_assistant(settings, progress=_progress).ask(" ".join(args.question), mode=args.mode,
                                                               sources=args.source)
    print(json.dumps(answer.to_dict(), ensure_ascii=False) if args.json else render_answer(answer))
    return 0


def _yield_to_questions() -> None:
    """Index at a lower CPU priority: a chat serving on the same machine keeps answering at its own pace
    (on an idle machine indexing runs as fast as before)."""
    try:
        os.nice(10)
    except (OSError, AttributeError):  # not permitted, or no nice on this system: index at normal priority
        pass


def cmd_ingest(settings, args) -> int:  # type: ignore[no-untyped-def]
    """``assistant ingest``: sync the sources folder into the index."""
    from .ingest import sync
    from .messages import message

    _yield_to_questions()

    if not any(True for _ in settings.sources.glob("*")):
        _err(message("no_sources", folder=settings.sources))
        return EXIT_USER
    return _report(sync(settings, progress=_progress))


def cmd_sources(settings, args) -> int:  # type: ignore[no-untyped-def]
    """``assistant sources``: the indexed sources."""
    from .messages import message
    from .service import build_assistant

    items = build_assistant(settings).sources()
    if args.json:
        print(json.dumps([s.summary() for s in items], ensure_ascii=False))
        return 0
    print(message("sources_header", count=len(items)))
    for s in items:
        updated = f"  updated={s.updated}" if s.updated else ""
        print(f"- {_line(s.source_id)}  «{_line(s.title)}»  {_line(s.origin)}  v{s.version}  chunks={s.chunks}"
              f"  added={s.added}{updated}  sha256={s.content_hash[:12]}")
    from .ingest import folder_status

    pending, failed = folder_status(settings)
    if pending:
        print(message("sources_pending", count=len(pending)))
        for name in pending:
            print(f"- {_line(name)}")
    if failed:
        print(message("sources_failed", count=len(failed)))
        for name, why in sorted(failed.items()):
            print(f"- {_line(name)}: {_line(why)}")
    from .recovery import pending as interrupted

    if unfinished := interrupted(settings):
        print(message("sources_interrupted", count=len(unfinished)))
        for source_id in unfinished:
            print(f"- {_line(source_id)}")
    return 0


def cmd_add(settings, args) -> int:  # type: ignore[no-untyped-def]
    """``assistant add PATH...``: add files or folders as sources."""
    from .ingest import add_files

    _yield_to_questions()

    return _report(add_files(settings, list(args.paths), progress=_progress, replace_existing=args.replace))


def cmd_remove(settings, args) -> int:  # type: ignore[no-untyped-def]
    """``assistant remove ID``: remove a source from the folder and the index."""
    from .ingest import remove_source
    from .messages import message

    try:
        remove_source(settings, args.source_id, progress=_progress)
    except KeyError:
        _err(message("source_not_found", source_id=args.source_id))
        return EXIT_USER
    print(message("source_removed", source_id=args.source_id))
    return 0


def cmd_chat(settings, args) -> int:  # type: ignore[no-untyped-def]
    """``assistant chat``: serve the web chat."""
    from .server import serve

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    return serve(settings.replace(**overrides), ingest_first=not args.no_ingest,
                 allow_anonymous=args.allow_anonymous, read_only=args.read_only)


def _password(args) -> str:  # type: ignore[no-untyped-def]
    """The new user's password: from standard input, or asked twice at the terminal."""
    import getpass

    from .accounts import AccountError

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password (again): ") != first:
        raise AccountError("mismatch")
    return first


def cmd_user(settings, args) -> int:  # type: ignore[no-untyped-def]
    """``assistant user add|remove|list|token``: the accounts of the shared chat, as the machine's owner."""
    from .accounts import Accounts
    from .messages import message

    accounts = Accounts(settings.home)
    if args.user_command == "add":
        user = accounts.add(args.name, _password(args), args.role)
        print(message("account_added", name=user.name, role=user.role))
    elif args.user_command == "remove":
        accounts.remove(args.name)
        print(message("account_removed", name=args.name))
    elif args.user_command == "token":
        print(accounts.new_token(args.name))
    else:
        for u in accounts.list():
            print(f"{u.name}\t{u.role}")
    return 0


def cmd_eval(settings, args) -> int:  # type: ignore[no-untyped-def]
    """``assistant eval [SETS]``: run evaluation suites and gate on their thresholds."""
    from .evals import run_cli

    return run_cli(settings, args)


COMMANDS = {"ask": cmd_ask, "ingest": cmd_ingest, "sources": cmd_sources, "add": cmd_add, "remove": cmd_remove,
            "chat": cmd_chat, "eval": cmd_eval, "train-reader": _train_reader, "user": cmd_user}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``assistant`` console script: every error a person can act on ends as an Arabic line."""
    from .backends import load_plugins
    from .cli_parser import parse
    from .config import load_settings
    from .errors import UserError, render
    from .messages import message, use_digits, use_folder

    try:
        settings, bad = load_settings(), None
    except ValueError as exc:
        settings, bad = None, exc
    args = parse(argv, settings.prompts if settings is not None else None)  # --help works even with bad settings
    if settings is None:
        _err(message("settings_bad", error=bad))
        return EXIT_USER
    use_folder(settings.prompts)
    use_digits(settings.digits)
    try:
        load_plugins(settings.plugins)
        rc = COMMANDS[args.command](settings, args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers below, not at interpreter exit
        return rc
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `assistant ask --json … | head -c 300`: the reader left, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # noqa: BLE001 - no traceback reaches a person: the Arabic text, the detail for logs
        text, detail = render(exc, settings.prompts)
        _fail(args, exc, text, detail)
        return EXIT_USER if isinstance(exc, UserError) else 1


def _fail(args, exc: Exception, text: str, detail: str) -> None:  # type: ignore[no-untyped-def]
    """Say what went wrong: one JSON object on stdout with ``--json``, else the Arabic text on stderr."""
    from .errors import UserError

    if getattr(args, "json", False):
        key = exc.message_key if isinstance(exc, UserError) else type(exc).__name__
        print(json.dumps({"error": {"key": key, "message": text}}, ensure_ascii=False))
    if isinstance(exc, UserError):
        _err(text)
    else:
        _err(f"{text}\n({detail})")


if __name__ == "__main__":
    sys.exit(main())
