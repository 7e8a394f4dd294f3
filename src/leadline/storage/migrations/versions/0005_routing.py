"""users for routing, assignment rules, follow-up deadlines

Revision ID: 0005_routing
Revises: 0004_segments
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = '0005_routing'
down_revision: str | None = '0004_segments'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
