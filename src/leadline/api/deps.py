"""Dependencies shared by the routers: the database, the calling key and its scopes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from leadline.core.leads import Scope
from leadline.services.workspaces import Principal, PrincipalCache, authenticate
from leadline.storage.database import POSTGRES_CONNECTIONS, READER_CONNECTIONS, Database
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
        async with gates(request).read:
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


class ConnectionGates:
    """Admission to the connection pools, waited for on the event loop.

    Without it, sync handlers wait for a pooled connection inside thread-pool threads: once every thread
    waits, the request that holds the connection cannot get a thread to finish its response, and the server
    stalls until the pool timeout (seen at 40 concurrent writes on SQLite). A gate never admits more holders
    than the pool has connections, so whoever is admitted gets one at once, and everyone else waits here,
    costing no thread.
    """

    def __init__(self, db: Database) -> None:
        if db.is_sqlite:
            self.write = asyncio.Semaphore(1)  # one writer connection per process
            self.read = asyncio.Semaphore(READER_CONNECTIONS)
        else:  # one pool for both; keep two connections spare for the CLI and health checks
            self.write = self.read = asyncio.Semaphore(POSTGRES_CONNECTIONS - 2)


def gates(request: Request) -> ConnectionGates:
    value: ConnectionGates = request.app.state.gates
    return value


async def write_session(request: Request, db: DatabaseDep) -> AsyncIterator[Session]:
    async with gates(request).write:
        with db.write() as session:
            yield session


async def read_session(request: Request, db: DatabaseDep) -> AsyncIterator[Session]:
    async with gates(request).read:
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
