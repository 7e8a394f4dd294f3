from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text

from leadline.api.deps import DatabaseDep, gates

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(request: Request, db: DatabaseDep) -> dict[str, str]:
    async with gates(request).read:
        with db.read() as session:
            session.execute(text("SELECT 1"))
    return {"status": "ok", "database": db.dialect}
