"""One error shape for every failure: `{"error": {"status", "message", "fields": [{"field", "reason"}]}}`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadline.core.lead_input import InvalidLeadInput
from leadline.services.errors import Invalid, ServiceError


class FieldError(BaseModel):
    field: str
    reason: str


class ErrorDetail(BaseModel):
    status: int
    message: str
    fields: list[FieldError]


class ErrorOut(BaseModel):
    error: ErrorDetail


_DESCRIPTIONS = {400: "Malformed request", 401: "Missing or invalid API key", 403: "The key lacks the scope",
                 404: "Not found in this workspace", 409: "Conflict with the current state",
                 413: "Body or batch too large", 415: "Unsupported content type", 422: "Invalid field values"}
#: Declared on every route so clients (and schemathesis) know the error shape.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text} for code, text in _DESCRIPTIONS.items()
}


def error_body(status: int, message: str, fields: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"error": {"status": status, "message": message, "fields": fields or []}}


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [{"field": _loc(tuple(e.get("loc", ()))), "reason": str(e.get("msg", "invalid"))}
                  for e in exc.errors()]
        return JSONResponse(error_body(422, "invalid request", fields), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(error_body(exc.status_code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(InvalidLeadInput)
    async def _lead_input(_request: Request, exc: InvalidLeadInput) -> JSONResponse:
        fields = [{"field": p.field, "reason": p.reason} for p in exc.problems]
        return JSONResponse(error_body(422, "invalid lead", fields), status_code=422)

    @app.exception_handler(ServiceError)
    async def _service(_request: Request, exc: ServiceError) -> JSONResponse:
        if isinstance(exc, Invalid):
            fields = [{"field": p.field, "reason": p.reason} for p in exc.problems]
        else:
            fields = [{"field": exc.field, "reason": exc.message}] if exc.field else []
        return JSONResponse(error_body(exc.status, exc.message, fields), status_code=exc.status)
