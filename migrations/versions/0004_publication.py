"""publication: answers and groups keyed to their round, not to their response

PostgreSQL checks a foreign key with one query per deleted parent row, so erasing a
round's responses at publication ran two queries per response (about a minute for a
1 M-response round). Answers and groups now reference their round (ON DELETE
CASCADE, so deleting a round or survey still removes them) and carry no key to
``responses``; publication deletes all three tables by round.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('response_answers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_response_answers_response_id_responses'), type_='foreignkey')
        batch_op.create_foreign_key(batch_op.f('fk_response_answers_round_id_rounds'), 'rounds', ['round_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('response_groups', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_response_groups_response_id_responses'), type_='foreignkey')
        batch_op.create_foreign_key(batch_op.f('fk_response_groups_round_id_rounds'), 'rounds', ['round_id'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    with op.batch_alter_table('response_groups', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_response_groups_round_id_rounds'), type_='foreignkey')
        batch_op.create_foreign_key(batch_op.f('fk_response_groups_response_id_responses'), 'responses', ['response_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('response_answers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_response_answers_round_id_rounds'), type_='foreignkey')
        batch_op.create_foreign_key(batch_op.f('fk_response_answers_response_id_responses'), 'responses', ['response_id'], ['id'], ondelete='CASCADE')

