"""officials: quota rows, digest marks, correction requests, and the indexes of the queue

Revision ID: 0005o
Revises: 0003
Create Date: 2026-11-28 14:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0005o'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('nagari_quota',
    sa.Column('nagari_code', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('limit_override', sa.Integer(), nullable=True),
    sa.Column('set_by', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['nagari_code'], ['nagari.code'], ),
    sa.PrimaryKeyConstraint('nagari_code', 'year')
    )
    op.create_table('digest_mark',
    sa.Column('channel_user', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('covered_until', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('channel_user')
    )
    op.create_table('correction_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('groups', sa.JSON(), nullable=False),
    sa.Column('done', sa.JSON(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('requested_by', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('correction_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_correction_request_reference'), ['reference'], unique=False)
    # The queue (pending of one nagari, oldest first), the quota count (approved of one nagari
    # in a budget year) and duplicate suspicions (same phone) at a province-sized load.
    op.create_index('ix_registration_nagari_status_created', 'registration',
                    ['nagari_code', 'status', 'created_at'], unique=False)
    op.create_index('ix_registration_nagari_status_decided', 'registration',
                    ['nagari_code', 'status', 'decided_at'], unique=False)
    op.create_index('ix_registration_phone', 'registration', ['phone'], unique=False)
    # The regency-wide queue (admins, viewers): pending ones only, oldest first, and their count.
    op.create_index('ix_registration_pending_created', 'registration', ['created_at', 'id'], unique=False,
                    postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    op.drop_index('ix_registration_pending_created', table_name='registration')
    op.drop_index('ix_registration_phone', table_name='registration')
    op.drop_index('ix_registration_nagari_status_decided', table_name='registration')
    op.drop_index('ix_registration_nagari_status_created', table_name='registration')
    with op.batch_alter_table('correction_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_correction_request_reference'))
    op.drop_table('correction_request')
    op.drop_table('digest_mark')
    op.drop_table('nagari_quota')
