"""replies through the outbox: the encrypted body of a turn's messages

Revision ID: 0010_replies_through_outbox
Revises: 0009_inbox_set_aside
Create Date: 2026-12-01 23:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0010_replies_through_outbox'
down_revision: Union[str, Sequence[str], None] = '0009_inbox_set_aside'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_enc', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('body_enc')
