"""Identity: identify anonymous visitors, merge and unmerge leads, list duplicate candidates."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["identity"])
