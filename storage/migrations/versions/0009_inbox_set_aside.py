"""inbox: updates set aside (undecodable or failing) keep their payload and a reason

Revision ID: 0009_inbox_set_aside
Revises: 0008
Create Date: 2026-12-01 23:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0009_inbox_set_aside'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_update', schema=None) as batch_op:
        batch_op.add_column(sa.Column('set_aside_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inbound_update', schema=None) as batch_op:
        batch_op.drop_column('set_aside_reason')
