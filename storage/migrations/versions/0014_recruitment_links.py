"""recruitment_link: the links nagari, jorong heads and agents hand out; registration.link_id

Revision ID: 0014_recruitment_links
Revises: 0013_whatsapp_templates
Create Date: 2026-12-08 09:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0014_recruitment_links'
down_revision: Union[str, Sequence[str], None] = '0013_whatsapp_templates'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'recruitment_link',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('nagari_code', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
        sa.Column('jorong', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
        sa.Column('agent', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.ForeignKeyConstraint(['nagari_code'], ['nagari.code'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    with op.batch_alter_table('recruitment_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recruitment_link_nagari_code'), ['nagari_code'], unique=False)
    # A nullable column without a foreign key: SQLite adds it in place (no table rebuild).
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.drop_column('link_id')
    with op.batch_alter_table('recruitment_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recruitment_link_nagari_code'))
    op.drop_table('recruitment_link')
