"""whatsapp_template: Meta's status of each WhatsApp template, by name and language

Revision ID: 0013_whatsapp_templates
Revises: 0012_ticket_pushes
Create Date: 2026-12-07 16:50:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0013_whatsapp_templates'
down_revision: Union[str, Sequence[str], None] = '0012_ticket_pushes'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'whatsapp_template',
        sa.Column('name', sa.String(length=512), nullable=False),
        sa.Column('language', sa.String(length=15), nullable=False),
        sa.Column('status', sa.String(length=30), nullable=False),
        sa.Column('category', sa.String(length=30), nullable=True),
        sa.Column('reason', sa.String(length=500), nullable=True),
        sa.Column('template_id', sa.String(length=40), nullable=True),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', 'language'),
    )


def downgrade() -> None:
    op.drop_table('whatsapp_template')
