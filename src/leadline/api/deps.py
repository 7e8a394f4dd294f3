"""Dependencies shared by the routers: the database, the calling key and its scopes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from leadline.core.leads import Scope
from leadline.services.workspaces import Principal, PrincipalCache, authenticate
from leadline.storage.database import Database
from leadline.storage.tables import Workspace

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer ll_...`")


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


DatabaseDep = Annotated[Database, Depends(get_db)]


async def get_principal(
    request: Request, db: DatabaseDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    # Runs on the event loop: one indexed lookup costs less than a hop to the thread pool and back.
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "missing API key: send Authorization: Bearer <key>",
                            headers={"WWW-Authenticate": "Bearer"})
    cache: PrincipalCache = request.app.state.principals
    principal = cache.get(credentials.credentials)
    if principal is None:
        with db.read() as session:
            principal = authenticate(session, credentials.credentials)
        if principal is None:
            raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        cache.put(credentials.credentials, principal)
    return principal


def require(scope: Scope):  # type: ignore[no-untyped-def]
    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        # admin implies write, write implies read
        implied = {Scope.ADMIN: {Scope.ADMIN, Scope.WRITE, Scope.READ}, Scope.WRITE: {Scope.WRITE, Scope.READ},
                   Scope.READ: {Scope.READ}}
        granted = set().union(*(implied[s] for s in principal.scopes))
        if scope not in granted:
            raise HTTPException(403, f"this API key lacks the {scope.value!r} scope")
        return principal

    return check


Reader = Annotated[Principal, Depends(require(Scope.READ))]
Writer = Annotated[Principal, Depends(require(Scope.WRITE))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]


def write_session(db: DatabaseDep) -> Iterator[Session]:
    with db.write() as session:
        yield session


def read_session(db: DatabaseDep) -> Iterator[Session]:
    with db.read() as session:
        yield session


WriteSession = Annotated[Session, Depends(write_session)]
ReadSession = Annotated[Session, Depends(read_session)]


def workspace_of(session: Session, principal: Principal) -> Workspace:
    workspace = session.get(Workspace, principal.workspace_id)
    if workspace is None:
        raise HTTPException(401, "the key's workspace no longer exists")
    return workspace


def parse_id(value: str, what: str = "lead") -> int:
    """Ids are opaque strings in the API; anything that is not one of ours is simply not found."""
    if not (value.isascii() and value.isdigit() and len(value) < 20) or not 0 < int(value) < 2**63:
        raise HTTPException(404, f"{what} not found")
    return int(value)
