"""the fingerprint of the key that encrypts the database (start-up with another key is refused)

Revision ID: 0009_key_fingerprint
Revises: 0010_replies_through_outbox
Create Date: 2026-12-01 23:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0009_key_fingerprint'
down_revision: Union[str, Sequence[str], None] = '0010_replies_through_outbox'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'key_fingerprint',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('rotating_to', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('rotated_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('key_fingerprint')
