"""one head: officials, whatsapp, outbox

Revision ID: 0007
Revises: 0004w, 0005o, 0006c
Create Date: 2026-11-28 13:47:08.369263
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = ('0004w', '0005o', '0006c')
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
