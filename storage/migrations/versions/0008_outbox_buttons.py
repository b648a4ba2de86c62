"""outbox buttons and in-place updates; a campaign's progress message

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 15:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('buttons', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('replaces', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('progress_message_id', sqlmodel.sql.sqltypes.AutoString(length=100),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_column('progress_message_id')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('replaces')
        batch_op.drop_column('buttons')
