"""programme rules: a rejected, withdrawn or ended registration no longer blocks its NIK; a
participant's end of coverage at the budget year's end

Revision ID: 0009_programme_rules
Revises: 0009_key_fingerprint
Create Date: 2026-12-01 23:30:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa



revision: str = '0009_programme_rules'
down_revision: Union[str, Sequence[str], None] = '0009_key_fingerprint'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BLOCKING = ("status IN ('pending', 'correction', 'waiting', 'approved', 'enrolled', "
            "'deletion_requested')")


def upgrade() -> None:
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint('uq_registration_nik_hash', type_='unique')
        batch_op.create_index('ix_registration_nik_hash', ['nik_hash'], unique=False)
        batch_op.create_index('uq_registration_nik_active', ['nik_hash'], unique=True,
                              postgresql_where=sa.text(BLOCKING), sqlite_where=sa.text(BLOCKING))


def downgrade() -> None:
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.drop_index('uq_registration_nik_active')
        batch_op.drop_index('ix_registration_nik_hash')
        batch_op.create_unique_constraint('uq_registration_nik_hash', ['nik_hash'])
        batch_op.drop_column('ends_at')
