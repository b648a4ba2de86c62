"""person_address and link_code (one person, several chats); official ids typed in local form fixed

person_address joins the chats of one person; link_code holds the codes that prove it
(storage/identity.py). An official added as `wa:081234567890` never matched the `6281234567890` WhatsApp sends, and had
no rights. Each such grant gets the normalised id; where the same grant already exists under the
normalised id, the local-form copy is revoked instead (the unique grant stays one row).

Revision ID: 0015_identity
Revises: 0014_recruitment_links
Create Date: 2026-12-07 17:10:00
"""
from datetime import datetime, timezone
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from conversations.identity import normalised_or_same


revision: str = '0015_identity'
down_revision: Union[str, Sequence[str], None] = '0014_recruitment_links'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OFFICIAL = sa.table('official', sa.column('id', sa.Integer), sa.column('channel_user', sa.String),
                    sa.column('role', sa.String), sa.column('nagari_code', sa.String),
                    sa.column('revoked_at', sa.DateTime(timezone=True)))


def upgrade() -> None:
    op.create_table(
        'person_address',
        sa.Column('address', sa.String(length=80), nullable=False),
        sa.Column('person', sa.String(length=80), nullable=False),
        sa.Column('method', sa.String(length=20), nullable=False),
        sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('address'),
    )
    op.create_index(op.f('ix_person_address_person'), 'person_address', ['person'], unique=False)
    op.create_table(
        'link_code',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('person', sa.String(length=80), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('used_by', sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('code_hash'),
    )
    op.create_index(op.f('ix_link_code_person'), 'link_code', ['person'], unique=False)
    normalise_official_ids()


def normalise_official_ids() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(OFFICIAL.c.id, OFFICIAL.c.channel_user, OFFICIAL.c.role,
                                  OFFICIAL.c.nagari_code)).all()
    taken = {(user, role, nagari) for _, user, role, nagari in rows}
    now = datetime.now(timezone.utc)
    for row_id, user, role, nagari in rows:
        fixed = normalised_or_same(user)
        if fixed == user:
            continue
        if (fixed, role, nagari) in taken:
            bind.execute(sa.update(OFFICIAL).where(OFFICIAL.c.id == row_id, OFFICIAL.c.revoked_at.is_(None))
                         .values(revoked_at=now))
        else:
            bind.execute(sa.update(OFFICIAL).where(OFFICIAL.c.id == row_id).values(channel_user=fixed))
            taken.add((fixed, role, nagari))


def downgrade() -> None:
    # The officials' local-form ids are not restored: they never matched anyone.
    op.drop_index(op.f('ix_link_code_person'), table_name='link_code')
    op.drop_table('link_code')
    op.drop_index(op.f('ix_person_address_person'), table_name='person_address')
    op.drop_table('person_address')
