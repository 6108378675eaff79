"""Accounts: who may use a shared chat and with which rights, kept in SQLite under the home folder.

Passwords are stored as bcrypt hashes (never as text); API tokens as their SHA-256 (a token is shown once,
when it is made). Two roles: ``admin`` adds, replaces and removes the shared sources; ``reader`` asks, and
what a reader uploads is private to that reader. With no account at all the chat is the single-user laptop
tool it always was.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import bcrypt

from .errors import UserError

ROLES = ("admin", "reader")
USERS_FILE = "users.sqlite3"
_NAME = re.compile(r"^[\w.@-]{1,64}$", re.UNICODE)
MIN_PASSWORD = 8


class AccountError(UserError):
    """A user that cannot be added, found or authenticated as asked."""

    prefix = "account_"


@dataclass(frozen=True)
class User:
    """One account: its name and role (``admin`` or ``reader``)."""

    name: str
    role: str
    created: float

    @property
    def is_admin(self) -> bool:
        """Whether this user may change the shared sources."""
        return self.role == "admin"


class Accounts:
    """The users of one home folder (``HOME/users.sqlite3``); every call opens and closes its own connection."""

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / USERS_FILE

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=10)
        con.execute("CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, role TEXT NOT NULL, "
                    "password TEXT NOT NULL, token TEXT, created REAL NOT NULL)")
        return con

    def exist(self) -> bool:
        """Whether any account is configured (without creating the file)."""
        if not self.path.is_file():
            return False
        with closing(self._connect()) as con:
            return con.execute("SELECT COUNT(*) FROM users").fetchone()[0] > 0

    def add(self, name: str, password: str, role: str = "reader") -> User:
        """Add a user (AccountError when the name is taken or invalid, the role unknown, the password short)."""
        if not _NAME.match(name or ""):
            raise AccountError("bad_name", name=name)
        if role not in ROLES:
            raise AccountError("bad_role", role=role, roles="، ".join(ROLES))
        if len(password or "") < MIN_PASSWORD:
            raise AccountError("short_password", minimum=MIN_PASSWORD)
        hashed = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode("ascii")
        user = User(name, role, time.time())
        with closing(self._connect()) as con, con:
            try:
                con.execute("INSERT INTO users (name, role, password, created) VALUES (?, ?, ?, ?)",
                            (name, role, hashed, user.created))
            except sqlite3.IntegrityError:
                raise AccountError("exists", name=name) from None
        self.path.chmod(0o600)
        return user

    def remove(self, name: str) -> None:
        """Remove a user (AccountError when there is none of that name)."""
        with closing(self._connect()) as con, con:
            if con.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
                raise AccountError("unknown", name=name)

    def list(self) -> list[User]:
        """Every user, by name."""
        if not self.path.is_file():
            return []
        with closing(self._connect()) as con:
            rows = con.execute("SELECT name, role, created FROM users ORDER BY name").fetchall()
        return [User(*row) for row in rows]

    def get(self, name: str) -> User | None:
        """The user of that name, or None."""
        if not self.path.is_file():
            return None
        with closing(self._connect()) as con:
            row = con.execute("SELECT name, role, created FROM users WHERE name = ?", (name,)).fetchone()
        return User(*row) if row else None

    def verify(self, name: str, password: str) -> User | None:
        """The user when the password is theirs, else None (the same time spent either way)."""
        with closing(self._connect()) as con:
            row = con.execute("SELECT name, role, created, password FROM users WHERE name = ?", (name or "",)).fetchone()
        stored = row[3].encode("ascii") if row else _dummy_hash()
        ok = bcrypt.checkpw((password or "").encode("utf-8"), stored)
        return User(row[0], row[1], row[2]) if row and ok else None

    def new_token(self, name: str) -> str:
        """A new API token for the user (the previous one stops working); only its hash is kept."""
        token = secrets.token_urlsafe(32)
        with closing(self._connect()) as con, con:
            if con.execute("UPDATE users SET token = ? WHERE name = ?", (_digest(token), name)).rowcount == 0:
                raise AccountError("unknown", name=name)
        return token

    def by_token(self, token: str) -> User | None:
        """The user an API token belongs to, or None."""
        if not token or not self.path.is_file():
            return None
        with closing(self._connect()) as con:
            row = con.execute("SELECT name, role, created FROM users WHERE token = ?", (_digest(token),)).fetchone()
        return User(*row) if row else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def _dummy_hash() -> bytes:
    """A hash of the same cost as real ones, checked for unknown names so that timing does not reveal them."""
    return bcrypt.hashpw(b"not a password", bcrypt.gensalt())
