"""webhook subscriptions and deliveries, notification emails

Revision ID: 0006_notifications
Revises: 0005_routing
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = '0006_notifications'
down_revision: str | None = '0005_routing'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
