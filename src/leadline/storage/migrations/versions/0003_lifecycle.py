"""lifecycle, outbox, BANT, activities, tasks, deals

Revision ID: 0003_lifecycle
Revises: 0002_scoring
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003_lifecycle'
down_revision: str | None = '0002_scoring'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('consumer', sa.String(length=64), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('available_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_pending', ['available_at', 'id'], unique=False, sqlite_where=sa.text('done_at IS NULL'), postgresql_where=sa.text('done_at IS NULL'))
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('follow_up_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('overdue_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('first_sales_touch_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_leads_follow_up_due_at'), ['follow_up_due_at'], unique=False)
    op.create_table('activities',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('outcome', sa.String(length=50), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_activities_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_activities_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_activities_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activities'))
    )
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.create_index('ix_activities_lead', ['workspace_id', 'lead_id', 'occurred_at'], unique=False)

    op.create_table('deals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('expected_close_on', sa.Date(), nullable=True),
    sa.Column('outcome', sa.String(length=10), nullable=True),
    sa.Column('outcome_reason', sa.String(length=200), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_deals_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_deals_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deals'))
    )
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deals_lead_id'), ['lead_id'], unique=False)
        batch_op.create_index('ix_deals_workspace', ['workspace_id', 'outcome', 'closed_at'], unique=False)

    op.create_table('mql_reviews',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=50), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_mql_reviews_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_mql_reviews_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mql_reviews'))
    )
    with op.batch_alter_table('mql_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mql_reviews_lead_id'), ['lead_id'], unique=False)
        batch_op.create_index('ix_mql_reviews_workspace', ['workspace_id', 'reviewed_at'], unique=False)

    op.create_table('tasks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('assignee_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('remind_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_tasks_assignee_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_tasks_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_tasks_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks'))
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_lead', ['workspace_id', 'lead_id'], unique=False)
        batch_op.create_index('ix_tasks_remind', ['remind_at'], unique=False, sqlite_where=sa.text('reminded_at IS NULL AND done_at IS NULL'), postgresql_where=sa.text('reminded_at IS NULL AND done_at IS NULL'))

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bant_budget', sa.Numeric(precision=14, scale=2), nullable=True))
        batch_op.add_column(sa.Column('bant_currency', sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column('bant_authority', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('bant_need', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('bant_timeline', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('stage_changed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('funnel_rank', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('mql_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sql_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('opportunity_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('customer_at', sa.DateTime(timezone=True), nullable=True))
    # The funnel rollup of leads that already have a stage history (see services.funnel_facts).
    for stage in ('mql', 'sql', 'opportunity', 'customer'):
        op.execute(f"UPDATE leads SET {stage}_at = (SELECT MIN(t.occurred_at) FROM stage_transitions t "
                   f"WHERE t.workspace_id = leads.workspace_id AND t.lead_id = leads.id AND t.to_stage = '{stage}')")
    op.execute("UPDATE leads SET funnel_rank = CASE WHEN customer_at IS NOT NULL THEN 4 "
               "WHEN opportunity_at IS NOT NULL THEN 3 WHEN sql_at IS NOT NULL THEN 2 "
               "WHEN mql_at IS NOT NULL THEN 1 ELSE 0 END")

    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disqualify_reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('recycle_reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
    op.create_table('experiments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('variants', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('goal_event', sa.String(length=64), nullable=False),
    sa.Column('baseline_rate', sa.Float(), nullable=True),
    sa.Column('minimum_effect', sa.Float(), nullable=True),
    sa.Column('planned_per_variant', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_experiments_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_experiments')),
    sa.UniqueConstraint('workspace_id', 'key', name=op.f('uq_experiments_workspace_id_key'))
    )
    with op.batch_alter_table('experiments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_experiments_workspace_id'), ['workspace_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('experiments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_experiments_workspace_id'))

    op.drop_table('experiments')
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.drop_column('recycle_reasons')
        batch_op.drop_column('disqualify_reasons')

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_column('stage_changed_at')
        batch_op.drop_column('customer_at')
        batch_op.drop_column('opportunity_at')
        batch_op.drop_column('sql_at')
        batch_op.drop_column('mql_at')
        batch_op.drop_column('funnel_rank')
        batch_op.drop_column('bant_timeline')
        batch_op.drop_column('bant_need')
        batch_op.drop_column('bant_authority')
        batch_op.drop_column('bant_currency')
        batch_op.drop_column('bant_budget')

    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_remind', sqlite_where=sa.text('reminded_at IS NULL AND done_at IS NULL'), postgresql_where=sa.text('reminded_at IS NULL AND done_at IS NULL'))
        batch_op.drop_index('ix_tasks_lead')

    op.drop_table('tasks')
    with op.batch_alter_table('mql_reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_mql_reviews_workspace')
        batch_op.drop_index(batch_op.f('ix_mql_reviews_lead_id'))

    op.drop_table('mql_reviews')
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_index('ix_deals_workspace')
        batch_op.drop_index(batch_op.f('ix_deals_lead_id'))

    op.drop_table('deals')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_index('ix_activities_lead')

    op.drop_table('activities')
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_leads_follow_up_due_at'))
        batch_op.drop_column('first_sales_touch_at')
        batch_op.drop_column('overdue_at')
        batch_op.drop_column('follow_up_due_at')
        batch_op.drop_column('assigned_at')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending', sqlite_where=sa.text('done_at IS NULL'), postgresql_where=sa.text('done_at IS NULL'))

    op.drop_table('outbox')
