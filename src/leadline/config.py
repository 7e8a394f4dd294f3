"""Settings: the one place that reads the environment (prefix `LEADLINE_`)."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADLINE_", extra="ignore")

    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{Path.cwd() / 'leadline.db'}",
        description="SQLAlchemy URL; a SQLite file in the working folder by default.",
    )
    max_body_bytes: int = Field(default=5 * 1024 * 1024, description="Larger request bodies get 413.")
    max_batch_events: int = 1000
    default_country: str | None = Field(default=None, description="Completes national phone numbers.")
    sql_echo: bool = False
    key_cache_seconds: float = Field(default=5.0, ge=0, description=(
        "How long an authenticated API key is trusted without a lookup; a revocation takes effect within it."))
    score_refresh_seconds: float = Field(default=10.0, ge=0, description=(
        "How often the server moves leads whose temperature changes by decay alone (0: never; then run "
        "`leadline score refresh` from a scheduler)."))
    worker_poll_seconds: float = Field(default=1.0, ge=0, description=(
        "How often the server's embedded worker drains the outbox and runs periodic tasks (0: never; then "
        "run `leadline worker`)."))
    smtp_host: str | None = Field(default=None, description="SMTP server for notification emails; unset: none sent.")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_from: str = Field(default="leadline@localhost", description="The From address of notification emails.")
    smtp_starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS (refuse if absent).")
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout: float = Field(default=10.0, gt=0)
    app_url: str = Field(default="http://localhost:8000", description=(
        "Where people open Leadline; links in notification emails start with it."))
    environment: Literal["development", "production"] = Field(default="development", description=(
        "In production a secret key must be set; in development one is made and kept beside the database."))
    secret_key: SecretStr | None = Field(default=None, description=(
        "Signs links and cookies and keys the suppression-list hashes. Keep it stable: changing it voids "
        "every signed link and makes the suppression list unreadable."))
    tracking_rate_limit: str = Field(default="600/minute", description=(
        "Snippet batches accepted per client IP (N/second, N/minute, N/hour or N/day)."))
    form_rate_limit: str = Field(default="20/minute", description="Form submissions accepted per client IP.")

    queue_url: str | None = Field(default=None, description=(
        "The job queue: unset, a SQLite file beside the database; `redis://host:port/db` in production."))
    queue_name: str = Field(default="leadline", min_length=1, max_length=100, description=(
        "Names the queue (Redis key prefix): one per deployment."))
    queue_workers: int = Field(default=2, ge=1, le=64, description="Job-queue worker threads per process.")
    smtp_connections: int = Field(default=4, ge=1, le=32, description=(
        "SMTP connections a sender uses at once for marketing email (round trips overlap)."))
    nurture_lease_seconds: float = Field(default=300.0, gt=0, description=(
        "How long a worker holds an enrolment or an email it is working on; a dead worker's rows are taken "
        "over (enrolments) or marked unknown (emails mid-send) after it."))

    def signing_key(self) -> bytes:
        """The instance secret; in development without one, a random key stored in `.leadline-secret` beside
        the SQLite file (or in the working folder), so restarts keep links and suppression hashes valid."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        if self.environment == "production":
            raise ValueError("LEADLINE_SECRET_KEY must be set in production")
        return _development_key(self.database_url)


def _development_key(database_url: str) -> bytes:
    folder = Path.cwd()
    if database_url.startswith("sqlite:///") and database_url != "sqlite:///:memory:":
        folder = Path(database_url.removeprefix("sqlite:///")).parent
    path = folder / ".leadline-secret"
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
