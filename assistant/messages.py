"""User-facing Arabic messages, read from ``prompts/messages.yaml`` (and other prompt files)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .config import load_settings


@lru_cache(maxsize=8)
def _load(folder: str) -> dict[str, str]:
    data: dict[str, str] = {}
    for name in ("messages.yaml", "ui.yaml"):
        path = Path(folder) / name
        if path.is_file():
            data.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return data


def message(key: str, folder: Path | None = None, **values: Any) -> str:
    """The message ``key`` in Arabic, with ``{placeholders}`` filled from ``values``."""
    texts = _load(str(folder or load_settings().prompts))
    if key not in texts:
        raise KeyError(f"no message {key!r} in prompts/")
    return texts[key].format(**values)


def prompt(name: str, folder: Path | None = None) -> str:
    """The text of a prompt file ``prompts/<name>``."""
    return (Path(folder or load_settings().prompts) / name).read_text(encoding="utf-8")
