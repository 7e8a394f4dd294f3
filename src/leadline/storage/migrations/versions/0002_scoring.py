"""scoring: model versions, per-rule running totals, daily caps, threshold history, lead score columns

Revision ID: 0002_scoring
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002_scoring'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('lead_rule_days',
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rule_key', sa.String(length=64), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('lead_id', 'rule_key', 'day', name=op.f('pk_lead_rule_days'))
    )
    op.create_table('lead_rule_scores',
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rule_key', sa.String(length=64), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('last_fired_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('lead_id', 'rule_key', name=op.f('pk_lead_rule_scores'))
    )
    op.create_table('score_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('from_value', sa.String(length=20), nullable=False),
    sa.Column('to_value', sa.String(length=20), nullable=False),
    sa.Column('cause', sa.String(length=200), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('fit', sa.Float(), nullable=False),
    sa.Column('engagement', sa.Float(), nullable=False),
    sa.Column('model_version', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_score_changes'))
    )
    with op.batch_alter_table('score_changes', schema=None) as batch_op:
        batch_op.create_index('ix_score_changes_lead', ['workspace_id', 'lead_id', 'occurred_at'], unique=False)

    op.create_table('scoring_models',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_scoring_models_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scoring_models')),
    sa.UniqueConstraint('workspace_id', 'version', name=op.f('uq_scoring_models_workspace_id_version'))
    )
    with op.batch_alter_table('scoring_models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scoring_models_workspace_id'), ['workspace_id'], unique=False)

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mql_ready', sa.Boolean(), server_default=sa.text('(false)'), nullable=False))
        batch_op.add_column(sa.Column('score_model_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('score_computed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('score_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('email_bounced_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('named_scores', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch_op.create_index(batch_op.f('ix_leads_score_due_at'), ['score_due_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_leads_score_due_at'))
        batch_op.drop_column('named_scores')
        batch_op.drop_column('email_bounced_at')
        batch_op.drop_column('score_due_at')
        batch_op.drop_column('score_computed_at')
        batch_op.drop_column('score_model_version')
        batch_op.drop_column('mql_ready')

    with op.batch_alter_table('scoring_models', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scoring_models_workspace_id'))

    op.drop_table('scoring_models')
    with op.batch_alter_table('score_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_score_changes_lead')

    op.drop_table('score_changes')
    op.drop_table('lead_rule_scores')
    op.drop_table('lead_rule_days')
