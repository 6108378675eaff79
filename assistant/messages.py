"""User-facing Arabic messages and prompt texts, read from a prompts folder (``messages.yaml``, ``ui.yaml``, ...).

The folder is the one the faces name (``settings.prompts``: HOME/prompts when it exists, else the copy shipped
inside the package). Nothing here reads settings: a face calls :func:`use_folder` once, or passes ``folder``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

_folder: Path | None = None
_digits = "latin"  # "latin" (0-9) or "arabic" (٠-٩): the digits of the numbers messages show


def packaged_folder() -> Path:
    """The prompts shipped inside the package (in a source checkout: the repository's top-level ``prompts/``)."""
    shipped = Path(str(resources.files("assistant"))) / "prompts"
    # in a source checkout prompts/ sits beside the package, at the top level where people edit it
    return shipped if shipped.is_dir() else Path(__file__).resolve().parent.parent / "prompts"


def use_folder(folder: Path | None) -> None:
    """Make ``folder`` the prompts folder for calls that name none (None: the packaged copy)."""
    global _folder
    _folder = Path(folder) if folder else None


def use_digits(style: str) -> None:
    """Show the numbers of messages (counts, paragraphs, pages, citation markers) in ``style`` digits."""
    global _digits
    _digits = "arabic" if style == "arabic" else "latin"


def number(n: int) -> str:
    """A number as the interface shows it (in the digits chosen by :func:`use_digits`)."""
    from .arabic import indic_digits

    return indic_digits(str(n)) if _digits == "arabic" else str(n)


@lru_cache(maxsize=8)
def _load(folder: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in ("messages.yaml", "ui.yaml"):
        path = Path(folder) / name
        if path.is_file():
            data.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return data


@lru_cache(maxsize=1)
def _arabic_plural():  # type: ignore[no-untyped-def]
    from babel import Locale

    return Locale("ar").plural_form


def plural_category(n: int) -> str:
    """The CLDR plural category of ``n`` in Arabic: zero, one, two, few, many or other (Babel's rules)."""
    return str(_arabic_plural()(abs(int(n))))


def message(key: str, folder: Path | None = None, /, **values: Any) -> str:
    """The message ``key`` in Arabic, with ``{placeholders}`` filled from ``values``.

    A message whose text is a mapping of CLDR plural categories (``zero``, ``one``, ``two``, ``few``,
    ``many``, ``other``) is chosen by ``values["count"]``, so that the noun agrees with its number.
    """
    texts = _load(str(folder or _folder or packaged_folder()))
    if key not in texts:
        raise KeyError(f"no message {key!r} in prompts/")
    text = texts[key]
    shown = {k: number(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in values.items()}
    if isinstance(text, dict):
        forms = text
        text = forms.get(plural_category(values.get("count", 0)), forms["other"])
    return str(text).format(**shown)


def catalogue(name: str, folder: Path | None = None) -> dict[str, Any]:
    """A whole YAML file of the prompts folder as data (``cli.yaml``: the terminal's help and argparse's words)."""
    path = Path(folder or _folder or packaged_folder()) / name
    if not path.is_file():  # a person's own prompts folder made before the file existed: the shipped copy
        path = packaged_folder() / name
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def prompt(name: str, folder: Path | None = None) -> str:
    """The text of a prompt file ``prompts/<name>``."""
    return (Path(folder or _folder or packaged_folder()) / name).read_text(encoding="utf-8")
