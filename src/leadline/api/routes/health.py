from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import text

from leadline.api.deps import DatabaseDep, gates

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(request: Request, db: DatabaseDep) -> dict[str, str]:
    async with gates(request).read:
        with db.read() as session:
            session.execute(text("SELECT 1"))
    return {"status": "ok", "database": db.dialect}


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    """Until the web app lands, the front door is the interactive API documentation."""
    return RedirectResponse("/docs", status_code=307)
