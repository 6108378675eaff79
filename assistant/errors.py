"""The errors a person can act on: each carries the key of its Arabic message and the values for it.

Every face renders them through :func:`render`, so the CLI, the web chat and the eval runner say the same
thing the same way; the English detail goes to logs, never a traceback to the person.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class UserError(Exception):
    """A failure caused by input or circumstance the person can fix; ``key`` names its message in prompts/."""

    prefix = ""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values

    @property
    def message_key(self) -> str:
        """The key of the Arabic message in ``prompts/messages.yaml``."""
        return f"{self.prefix}{self.key}"

    def text(self, folder: Path | None = None) -> str:
        """The Arabic message for this error."""
        from .messages import message

        return message(self.message_key, folder, **self.values)

    def __str__(self) -> str:
        return f"{self.message_key} {self.values}" if self.values else self.message_key

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # pickled whole (an indexing child process hands its errors back): subclasses take other arguments
        return (_restore, (type(self), self.key, self.values))


def _restore(cls: type, key: str, values: dict[str, Any]) -> UserError:
    err = cls.__new__(cls)
    UserError.__init__(err, key, **values)
    return err


class SourceError(UserError):
    """A source that cannot be added (unsupported, unreadable, empty, duplicate...)."""

    prefix = "source_"


class QuestionError(UserError):
    """A question that cannot be asked as it is (empty, too long)."""


class ReaderUnavailable(UserError):
    """The trained reader cannot be used (missing, corrupt or incompatible artefact); ``detail`` says why in English."""

    def __init__(self, key: str, detail: str = "") -> None:
        super().__init__(key)
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.key}: {self.detail}"


class NoIndex(UserError):
    """No index has been built yet."""

    def __init__(self) -> None:
        super().__init__("no_index")


class IndexBusy(UserError):
    """Another process holds the index lock."""

    def __init__(self) -> None:
        super().__init__("index_busy")


class StoreUnreachable(UserError):
    """The Chroma server named by the settings does not answer (after a few tries)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__("chroma_unreachable", host=host, port=port)


def render(exc: BaseException, folder: Path | None = None) -> tuple[str, str]:
    """(Arabic text for the person, English detail for logs) of any error."""
    from .messages import message

    if isinstance(exc, UserError):
        return exc.text(folder), f"{type(exc).__name__}: {exc}"
    if isinstance(exc, PermissionError):
        key = "error_permission"
    elif isinstance(exc, OSError):
        key = "error_os"
    else:
        key = "error_internal"
    return message(key, folder, error=type(exc).__name__), f"{type(exc).__name__}: {exc}"
