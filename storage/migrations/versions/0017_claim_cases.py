"""claim_case: after an accident or a death, the case a nagari follows for the family (free text and contacts encrypted)

Revision ID: 0017_claim_cases
Revises: 0016_dashboard_sessions
Create Date: 2026-12-08 15:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0017_claim_cases'
down_revision: Union[str, Sequence[str], None] = '0016_dashboard_sessions'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('claim_case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('nagari_code', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('event_date', sa.Date(), nullable=True),
    sa.Column('place_enc', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('story_enc', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('notifier', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('notifier_name_enc', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('notifier_phone_enc', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('by_official', sa.Boolean(), nullable=False),
    sa.Column('family', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('lang', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('amount_paid', sa.Integer(), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('usage', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['nagari_code'], ['nagari.code'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('claim_case', schema=None) as batch_op:
        batch_op.create_index('ix_claim_case_nagari_status', ['nagari_code', 'status'], unique=False)
        batch_op.create_index('ix_claim_case_status_opened', ['status', 'opened_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_claim_case_reference'), ['reference'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('claim_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_case_reference'))
        batch_op.drop_index('ix_claim_case_status_opened')
        batch_op.drop_index('ix_claim_case_nagari_status')

    op.drop_table('claim_case')
