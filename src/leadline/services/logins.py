"""Logins for the web app: argon2id password hashes on users, browser sessions, and what a user may see.

A session cookie holds a random token; the database keeps its SHA-256 only (like API keys), with the session's
CSRF token and expiry. Visibility follows the role: a rep sees the leads it owns, a manager its team's (itself
and the users whose manager it is), admins and marketers every lead of the workspace.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from leadline.core.lead_input import FieldProblem
from leadline.core.routing import Role
from leadline.services.errors import Invalid, NotFound
from leadline.services.users import UserIn, create_user
from leadline.storage.tables import Lead, User, WebSession, Workspace
from leadline.storage.types import utcnow

SESSION_LIFETIME = timedelta(days=14)
MIN_PASSWORD = 8
LOCALES = ("en", "fr")

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so a wrong address costs as long as a wrong password
    (made on first use: hashing at import would slow every command that imports this module)."""
    return _hasher.hash(secrets.token_urlsafe(16))


class LoginRole(StrEnum):
    """The roles `leadline user create` speaks of; `sales` is the routing role `rep`."""

    ADMIN = "admin"
    MARKETER = "marketer"
    SALES = "sales"
    MANAGER = "manager"

    def as_role(self) -> Role:
        return Role.REP if self is LoginRole.SALES else Role(self.value)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise Invalid([FieldProblem("password", f"at least {MIN_PASSWORD} characters")])
    if len(password) > 1024:
        raise Invalid([FieldProblem("password", "at most 1024 characters")])
    return _hasher.hash(password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def create_login(session: Session, *, workspace_id: int, email: str, password: str, role: LoginRole,
                 name: str | None = None, locale: str | None = None) -> User:
    """A user who can log in; an existing user of the workspace with this email gets the password and role."""
    address = email.strip().lower()
    hashed = hash_password(password)
    if locale is not None and locale not in LOCALES:
        raise Invalid([FieldProblem("locale", f"one of: {', '.join(LOCALES)}")])
    user = session.scalar(select(User).where(User.workspace_id == workspace_id, func.lower(User.email) == address))
    if user is None:
        try:
            data = UserIn(handle=address, name=name or address.split("@")[0], email=address, role=role.as_role())
        except ValidationError as exc:
            raise Invalid([FieldProblem(".".join(map(str, e["loc"])) or "email", e["msg"])
                           for e in exc.errors()]) from None
        user = create_user(session, workspace_id=workspace_id, data=data)
    else:
        user.role = role.as_role().value
        if name:
            user.name = name
    user.password_hash = hashed
    if locale is not None:
        user.locale = locale
    session.flush()
    return user


@dataclass(frozen=True)
class LoggedIn:
    user_id: int
    workspace_id: int
    token: str  # for the cookie; never stored
    csrf_token: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def log_in(session: Session, *, email: str, password: str, workspace: str | None = None,
           now: datetime | None = None) -> LoggedIn:
    """Check the password and open a session; Invalid (same message whatever was wrong) otherwise."""
    now = now or utcnow()
    address = email.strip().lower()
    query = select(User).join(Workspace, Workspace.id == User.workspace_id).where(
        func.lower(User.email) == address, User.active.is_(True), User.password_hash.is_not(None))
    if workspace:
        query = query.where(Workspace.slug == workspace.strip())
    candidates = list(session.scalars(query.order_by(User.id).limit(5)))
    matching = [u for u in candidates if _verify(u.password_hash, password)]
    if not candidates:
        _verify(None, password)
    if len(matching) != 1:
        reason = ("this email has logins in several workspaces: name the workspace" if len(matching) > 1
                  else "wrong email or password")
        raise Invalid([FieldProblem("workspace" if len(matching) > 1 else "password", reason)])
    user = matching[0]
    if _hasher.check_needs_rehash(user.password_hash or ""):
        user.password_hash = _hasher.hash(password)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    session.add(WebSession(token_hash=_token_hash(token), workspace_id=user.workspace_id, user_id=user.id,
                           csrf_token=csrf, created_at=now, expires_at=now + SESSION_LIFETIME))
    session.flush()
    return LoggedIn(user.id, user.workspace_id, token, csrf)


@dataclass(frozen=True)
class SessionUser:
    """Who is behind a browser session, and what they may see (`owner_ids` None: every lead)."""

    user_id: int
    workspace_id: int
    workspace_slug: str
    name: str
    email: str | None
    role: Role
    locale: str | None
    timezone: str
    csrf_token: str
    owner_ids: tuple[int, ...] | None

    @property
    def can_manage_leads(self) -> bool:
        """Assign leads to others (reps get theirs through routing, not by picking)."""
        return self.role in (Role.ADMIN, Role.MANAGER)

    @property
    def can_edit_scoring(self) -> bool:
        return self.role in (Role.ADMIN, Role.MARKETER)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def sees(self, lead: Lead) -> bool:
        return self.owner_ids is None or lead.owner_id in self.owner_ids


def visible_owners(session: Session, user: User) -> tuple[int, ...] | None:
    role = Role(user.role)
    if role in (Role.ADMIN, Role.MARKETER):
        return None
    if role is Role.MANAGER:
        team = session.scalars(select(User.id).where(User.workspace_id == user.workspace_id,
                                                     User.manager_id == user.id))
        return (user.id, *sorted(team))
    return (user.id,)


def session_user(session: Session, token: str, *, now: datetime | None = None) -> SessionUser | None:
    now = now or utcnow()
    row = session.execute(select(WebSession, User, Workspace.slug)
                          .join(User, User.id == WebSession.user_id)
                          .join(Workspace, Workspace.id == WebSession.workspace_id)
                          .where(WebSession.token_hash == _token_hash(token))).first()
    if row is None:
        return None
    web, user, slug = row
    if web.expires_at <= now or not user.active or user.password_hash is None:
        return None
    return SessionUser(user.id, user.workspace_id, slug, user.name, user.email, Role(user.role), user.locale,
                       user.timezone, web.csrf_token, visible_owners(session, user))


def log_out(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == _token_hash(token)))


def set_locale(session: Session, *, workspace_id: int, user_id: int, locale: str) -> None:
    if locale not in LOCALES:
        raise Invalid([FieldProblem("locale", f"one of: {', '.join(LOCALES)}")])
    user = session.scalar(select(User).where(User.workspace_id == workspace_id, User.id == user_id))
    if user is None:
        raise NotFound("user not found")
    user.locale = locale
