"""whatsapp outbound messages and their statuses

Revision ID: 0004w
Revises: 0002
Create Date: 2026-11-28 13:30:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0004w'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('whatsapp_outbound',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('channel_user', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('template', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('error_title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('body_enc', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id')
    )
    with op.batch_alter_table('whatsapp_outbound', schema=None) as batch_op:
        batch_op.create_index('ix_whatsapp_outbound_user_status', ['channel_user', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('whatsapp_outbound', schema=None) as batch_op:
        batch_op.drop_index('ix_whatsapp_outbound_user_status')

    op.drop_table('whatsapp_outbound')
