"""predictive scoring: model versions and each open lead's probability

Revision ID: 0007_predict
Revises: 0006_notifications
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0007_predict'
down_revision: str | None = '0006_notifications'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('lead_predictions',
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('model_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('scored_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('lead_id', name=op.f('pk_lead_predictions'))
    )
    with op.batch_alter_table('lead_predictions', schema=None) as batch_op:
        batch_op.create_index('ix_lead_predictions_rank', ['workspace_id', 'probability'], unique=False)

    op.create_table('prediction_models',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('algorithm', sa.String(length=30), nullable=False),
    sa.Column('target', sa.String(length=20), nullable=False),
    sa.Column('horizon_days', sa.Integer(), nullable=False),
    sa.Column('observe_days', sa.Integer(), nullable=False),
    sa.Column('data_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data_to', sa.DateTime(timezone=True), nullable=False),
    sa.Column('holdout_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('train_rows', sa.Integer(), nullable=False),
    sa.Column('test_rows', sa.Integer(), nullable=False),
    sa.Column('positives', sa.Integer(), nullable=False),
    sa.Column('metrics', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('features', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('why', sa.Text(), nullable=False),
    sa.Column('activation', sa.Text(), nullable=False),
    sa.Column('blob', sa.LargeBinary(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_prediction_models_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prediction_models')),
    sa.UniqueConstraint('workspace_id', 'version', name=op.f('uq_prediction_models_workspace_id_version'))
    )
    with op.batch_alter_table('prediction_models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prediction_models_workspace_id'), ['workspace_id'], unique=False)

    # ### end Alembic commands ###


def downgrade() -> None:
    with op.batch_alter_table('prediction_models', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prediction_models_workspace_id'))

    op.drop_table('prediction_models')
    with op.batch_alter_table('lead_predictions', schema=None) as batch_op:
        batch_op.drop_index('ix_lead_predictions_rank')

    op.drop_table('lead_predictions')
    # ### end Alembic commands ###
