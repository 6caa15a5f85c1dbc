"""surveys: surveys, teams, audience, rounds, mail jobs, token hashes, responses, results

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('survey_teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_teams')),
    sa.UniqueConstraint('name', name=op.f('uq_survey_teams_name'))
    )
    op.create_table('surveys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('intro', sa.Text(), nullable=False),
    sa.Column('item_ids', sa.JSON(), nullable=False),
    sa.Column('demographics', sa.JSON(), nullable=False),
    sa.Column('comment_question', sa.String(length=500), nullable=True),
    sa.Column('schedule', sa.String(length=200), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('open_days', sa.Integer(), nullable=False),
    sa.Column('reminder_offsets_days', sa.JSON(), nullable=False),
    sa.Column('min_group_size', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_on', sa.Date(), nullable=False),
    sa.CheckConstraint('min_group_size >= 3', name=op.f('ck_surveys_k_at_least_3')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_surveys'))
    )
    op.create_table('audience_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_audience_members_survey_id_surveys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audience_members')),
    sa.UniqueConstraint('survey_id', 'email', name='uq_audience_survey_email')
    )
    op.create_table('rounds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('opens_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reminder_times', sa.JSON(), nullable=False),
    sa.Column('reminders_sent', sa.Integer(), nullable=False),
    sa.Column('min_group_size', sa.Integer(), nullable=True),
    sa.Column('invited_count', sa.Integer(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('published_on', sa.Date(), nullable=True),
    sa.Column('raw_deleted', sa.Boolean(), nullable=False),
    sa.CheckConstraint("status IN ('scheduled', 'open', 'closed', 'published')", name=op.f('ck_rounds_status_known')),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_rounds_survey_id_surveys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rounds')),
    sa.UniqueConstraint('survey_id', 'opens_at', name='uq_rounds_survey_opens_at')
    )
    op.create_table('mail_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'cancelled')", name=op.f('ck_mail_jobs_status_known')),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], name=op.f('fk_mail_jobs_round_id_rounds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_jobs')),
    sa.UniqueConstraint('round_id', 'kind', 'email', name='uq_mail_jobs_round_kind_email')
    )
    with op.batch_alter_table('mail_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_mail_jobs_status_round', ['status', 'round_id'], unique=False)

    op.create_table('published_results',
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('published_on', sa.Date(), nullable=False),
    sa.Column('min_group_size', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], name=op.f('fk_published_results_round_id_rounds'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_published_results_survey_id_surveys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('round_id', name=op.f('pk_published_results'))
    )
    op.create_table('responses',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], name=op.f('fk_responses_round_id_rounds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_responses'))
    )
    op.create_table('token_hashes',
    sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('used', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], name=op.f('fk_token_hashes_round_id_rounds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_token_hashes'))
    )
    with op.batch_alter_table('token_hashes', schema=None) as batch_op:
        batch_op.create_index('ix_token_hashes_round_id', ['round_id'], unique=False)

    op.create_table('response_answers',
    sa.Column('response_id', sa.String(length=32), nullable=False),
    sa.Column('item_id', sa.String(length=32), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.SmallInteger(), nullable=False),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_response_answers_response_id_responses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('response_id', 'item_id', name=op.f('pk_response_answers'))
    )
    with op.batch_alter_table('response_answers', schema=None) as batch_op:
        batch_op.create_index('ix_response_answers_round_item', ['round_id', 'item_id'], unique=False)

    op.create_table('response_groups',
    sa.Column('response_id', sa.String(length=32), nullable=False),
    sa.Column('dimension', sa.String(length=32), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('option', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_response_groups_response_id_responses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('response_id', 'dimension', name=op.f('pk_response_groups'))
    )
    with op.batch_alter_table('response_groups', schema=None) as batch_op:
        batch_op.create_index('ix_response_groups_round_dimension', ['round_id', 'dimension'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('response_groups', schema=None) as batch_op:
        batch_op.drop_index('ix_response_groups_round_dimension')

    op.drop_table('response_groups')
    with op.batch_alter_table('response_answers', schema=None) as batch_op:
        batch_op.drop_index('ix_response_answers_round_item')

    op.drop_table('response_answers')
    with op.batch_alter_table('token_hashes', schema=None) as batch_op:
        batch_op.drop_index('ix_token_hashes_round_id')

    op.drop_table('token_hashes')
    op.drop_table('responses')
    op.drop_table('published_results')
    with op.batch_alter_table('mail_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_mail_jobs_status_round')

    op.drop_table('mail_jobs')
    op.drop_table('rounds')
    op.drop_table('audience_members')
    op.drop_table('surveys')
    op.drop_table('survey_teams')
