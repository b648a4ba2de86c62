"""dashboard_link and dashboard_session: one-time login links to the dashboard and the browser sessions they open (hashes of the tokens only); registration indexes for its counts by category and by link

Revision ID: 0016_dashboard_sessions
Revises: 0015_identity
Create Date: 2026-12-08 12:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0016_dashboard_sessions'
down_revision: Union[str, Sequence[str], None] = '0015_identity'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'dashboard_link',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('channel_user', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_table(
        'dashboard_session',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('channel_user', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('lang', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    # The dashboard's counts by kind of work and by recruitment link, from the index alone.
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.create_index('ix_registration_category_status', ['category', 'status'], unique=False)
        batch_op.create_index('ix_registration_link_status', ['link_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.drop_index('ix_registration_link_status')
        batch_op.drop_index('ix_registration_category_status')
    op.drop_table('dashboard_session')
    op.drop_table('dashboard_link')
