"""Errors services raise; adapters (API, CLI) translate them to status codes and messages."""

from __future__ import annotations

from leadline.core.lead_input import FieldProblem


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    status = 422

    def __init__(self, problems: list[FieldProblem]):
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in problems))
        self.problems = problems
