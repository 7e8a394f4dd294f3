"""Workspaces and API keys."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadline.core.leads import Scope
from leadline.storage.tables import ApiKey, Workspace
from leadline.storage.types import utcnow

KEY_PREFIX = "ll_"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True, slots=True)
class WorkspacePolicy:
    """What the ingest path needs to know of a workspace, small enough to cache with the key."""

    id: int
    allowed_event_types: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a workspace and the scopes its key grants."""

    workspace_id: int
    key_id: int
    scopes: frozenset[Scope]
    workspace: WorkspacePolicy | None = None

    @property
    def actor(self) -> str:
        return f"api_key:{self.key_id}"


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get_or_create_workspace(session: Session, slug: str, *, name: str | None = None) -> Workspace:
    if not _SLUG.match(slug):
        raise ValueError(f"invalid workspace name {slug!r}: use lowercase letters, digits, - and _")
    workspace = session.scalar(select(Workspace).where(Workspace.slug == slug))
    if workspace is None:
        workspace = Workspace(slug=slug, name=name or slug)
        session.add(workspace)
        session.flush()
    return workspace


def find_workspace(session: Session, slug: str) -> Workspace | None:
    return session.scalar(select(Workspace).where(Workspace.slug == slug))


def parse_scopes(text: str) -> frozenset[Scope]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError("at least one scope is needed: read, write, admin")
    try:
        return frozenset(Scope(name) for name in names)
    except ValueError as exc:
        raise ValueError(f"unknown scope in {text!r}: choose among read, write, admin") from exc


def create_api_key(session: Session, workspace: Workspace, scopes: frozenset[Scope], *, name: str = "") -> str:
    """Store a new key (hashed) and return the plain token: the only time it is ever seen."""
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(
        workspace_id=workspace.id, name=name or "key", prefix=token[:10], key_hash=hash_key(token),
        scopes=",".join(sorted(scopes)),
    ))
    session.flush()
    return token


def authenticate(session: Session, token: str) -> Principal | None:
    if not token.startswith(KEY_PREFIX) or len(token) > 200:
        return None
    row = session.execute(
        select(ApiKey.id, ApiKey.workspace_id, ApiKey.scopes, Workspace.allowed_event_types)
        .join(Workspace, Workspace.id == ApiKey.workspace_id)
        .where(ApiKey.key_hash == hash_key(token), ApiKey.revoked_at.is_(None))).first()
    if row is None:
        return None
    key_id, workspace_id, scopes, allowed = row
    policy = WorkspacePolicy(id=workspace_id, allowed_event_types=tuple(allowed) if allowed is not None else None)
    return Principal(workspace_id=workspace_id, key_id=key_id, scopes=parse_scopes(scopes), workspace=policy)


class PrincipalCache:
    """Recently authenticated keys, so a busy client costs one lookup per `ttl` seconds instead of one per
    request. A revoked key or a changed workspace policy takes effect within `ttl` seconds."""

    def __init__(self, ttl: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(hash_key(token))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, token: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[hash_key(token)] = (time.monotonic() + self.ttl, principal)


def revoke_api_key(session: Session, workspace_id: int, key_id: int) -> bool:
    key = session.scalar(select(ApiKey).where(ApiKey.workspace_id == workspace_id, ApiKey.id == key_id))
    if key is None:
        return False
    key.revoked_at = utcnow()
    return True


def list_api_keys(session: Session, workspace_id: int) -> list[ApiKey]:
    """The workspace's keys, newest first (prefixes and scopes only: a key is shown once, when created)."""
    return list(session.scalars(select(ApiKey).where(ApiKey.workspace_id == workspace_id)
                                .order_by(ApiKey.id.desc())))
