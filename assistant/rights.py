"""Who sees which source: a shared source (no owner) is everyone's; a private upload only its owner's.

Every path that reads sources goes through here: answers (dense and keyword retrieval alike get the hidden
ids as an exclusion), source listings, the source viewer and the structured API.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from .models import Source


OWNER: None = None  # the machine's owner (the CLI, the eval runner): reads every source in the home folder
ANONYMOUS = ""  # a web visitor without an account: reads the shared sources only


def can_see(source: Source, user: str | None) -> bool:
    """Whether ``user`` (a user name, ANONYMOUS, or OWNER) may read the source."""
    return user is OWNER or not source.owner or source.owner == user


def hidden_ids(sources: Mapping[str, Source], user: str | None) -> set[str]:
    """Ids of the sources ``user`` may not read (left out of every retrieval for that user)."""
    if user is OWNER:
        return set()
    return {sid for sid, s in sources.items() if not can_see(s, user)}


def visible(sources: Iterable[Source], user: str | None) -> list[Source]:
    """The sources ``user`` may read, in the order given."""
    return [s for s in sources if can_see(s, user)]
