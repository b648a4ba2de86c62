"""ticket: when the worker's messages were last pushed to the officials, and how many wait

Revision ID: 0012_ticket_pushes
Revises: 0011_tickets
Create Date: 2026-12-07 14:10:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0012_ticket_pushes'
down_revision: Union[str, Sequence[str], None] = '0011_tickets'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pushed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('unpushed', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_column('unpushed')
        batch_op.drop_column('pushed_at')
