"""segments, static lists and membership

Revision ID: 0004_segments
Revises: 0003_lifecycle
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004_segments'
down_revision: str | None = '0003_lifecycle'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('segments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('filter', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('persona', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('dependencies', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_segments_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_segments')),
    sa.UniqueConstraint('workspace_id', 'name', name=op.f('uq_segments_workspace_id_name'))
    )
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_segments_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('segment_memberships',
    sa.Column('segment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['segment_id'], ['segments.id'], name=op.f('fk_segment_memberships_segment_id_segments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('segment_id', 'lead_id', name=op.f('pk_segment_memberships'))
    )
    with op.batch_alter_table('segment_memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_segment_memberships_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index('ix_segment_memberships_lead', ['workspace_id', 'lead_id'], unique=False)

    op.create_table('segment_dirty_leads',
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('workspace_id', 'lead_id', name=op.f('pk_segment_dirty_leads'))
    )
    with op.batch_alter_table('segment_dirty_leads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_segment_dirty_leads_due_at'), ['due_at'], unique=False)

    # Segments count "did X in the last D days" from one type's recent events (bench/segment_count.py).
    op.create_index('ix_events_type_time', 'events', ['workspace_id', 'type', 'occurred_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_events_type_time', table_name='events')
    with op.batch_alter_table('segment_dirty_leads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_segment_dirty_leads_due_at'))

    op.drop_table('segment_dirty_leads')
    with op.batch_alter_table('segment_memberships', schema=None) as batch_op:
        batch_op.drop_index('ix_segment_memberships_lead')
        batch_op.drop_index(batch_op.f('ix_segment_memberships_expires_at'))

    op.drop_table('segment_memberships')
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_segments_workspace_id'))

    op.drop_table('segments')
