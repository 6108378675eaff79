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


def packaged_folder() -> Path:
    """The prompts shipped inside the package (in a source checkout: the repository's top-level ``prompts/``)."""
    shipped = Path(str(resources.files("assistant"))) / "prompts"
    # in a source checkout prompts/ sits beside the package, at the top level where people edit it
    return shipped if shipped.is_dir() else Path(__file__).resolve().parent.parent / "prompts"


def use_folder(folder: Path | None) -> None:
    """Make ``folder`` the prompts folder for calls that name none (None: the packaged copy)."""
    global _folder
    _folder = Path(folder) if folder else None


@lru_cache(maxsize=8)
def _load(folder: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in ("messages.yaml", "ui.yaml"):
        path = Path(folder) / name
        if path.is_file():
            data.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return data


def plural_category(n: int) -> str:
    """The CLDR plural category of ``n`` in Arabic: zero, one, two, few, many or other (Babel's rules)."""
    from babel import Locale

    return str(Locale("ar").plural_form(abs(int(n))))


def message(key: str, folder: Path | None = None, /, **values: Any) -> str:
    """The message ``key`` in Arabic, with ``{placeholders}`` filled from ``values``.

    A message whose text is a mapping of CLDR plural categories (``zero``, ``one``, ``two``, ``few``,
    ``many``, ``other``) is chosen by ``values["count"]``, so that the noun agrees with its number.
    """
    texts = _load(str(folder or _folder or packaged_folder()))
    if key not in texts:
        raise KeyError(f"no message {key!r} in prompts/")
    text = texts[key]
    if isinstance(text, dict):
        forms = text
        text = forms.get(plural_category(values.get("count", 0)), forms["other"])
    return str(text).format(**values)


def prompt(name: str, folder: Path | None = None) -> str:
    """The text of a prompt file ``prompts/<name>``."""
    return (Path(folder or _folder or packaged_folder()) / name).read_text(encoding="utf-8")
