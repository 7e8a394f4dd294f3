"""Settings: the one place that reads the environment (prefix `LEADLINE_`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
