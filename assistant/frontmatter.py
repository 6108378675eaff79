"""YAML front matter: the ``---`` block at the top of a text source that carries its title, date and origin."""

from __future__ import annotations

import re
from typing import Any

import yaml

FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n", re.S)


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Separate YAML front matter (``---`` block at the top) from the body."""
    m = FRONT_MATTER.match(text.lstrip("\ufeff"))
    if not m:
        return {}, text
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError:
        return {}, text
    if not isinstance(meta, dict):
        return {}, text
    return meta, text.lstrip("\ufeff")[m.end():]
