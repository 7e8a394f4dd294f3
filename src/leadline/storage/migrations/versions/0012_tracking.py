"""website tracking: snippet settings per workspace, consent-free daily page counts, embeddable form columns

Revision ID: 0012_tracking
Revises: 0011_web
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0012_tracking'
down_revision: str | None = '0011_web'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('tracking_page_counts',
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('audience', sa.String(length=10), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('views', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_tracking_page_counts_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'day', 'audience', 'path', name=op.f('pk_tracking_page_counts'))
    )
    op.create_table('tracking_settings',
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('allowed_domains', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('require_consent', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('honour_gpc', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_tracking_settings_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', name=op.f('pk_tracking_settings')),
    sa.UniqueConstraint('public_key', name=op.f('uq_tracking_settings_public_key'))
    )
    with op.batch_alter_table('forms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fields', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('consent_boxes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('thank_you_message', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('double_opt_in', sa.Boolean(), server_default=sa.text('false'), nullable=False))
        batch_op.add_column(sa.Column('min_fill_seconds', sa.Integer(), server_default=sa.text('0'), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('forms', schema=None) as batch_op:
        batch_op.drop_column('min_fill_seconds')
        batch_op.drop_column('double_opt_in')
        batch_op.drop_column('thank_you_message')
        batch_op.drop_column('consent_boxes')
        batch_op.drop_column('fields')

    op.drop_table('tracking_settings')
    op.drop_table('tracking_page_counts')
