"""Recruitment links: one row per link a nagari, a jorong head or a field agent hands out.

The code a link carries (conversations/links.py) names its row by id, so the names of the
jorong and the agent stay here and never travel in a URL; a registration submitted from a
conversation that came through a link records the row's id (Registration.link_id). Rows are
never deleted: posters keep working for as long as they hang, and every registration keeps its
source. Asking again for the same nagari, jorong and agent (in any capitalisation) gives the
same row, and so the same code.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from conversations.links import fold_name
from storage.models import _utc_column


class RecruitmentLink(SQLModel, table=True):
    __tablename__ = "recruitment_link"

    id: int | None = Field(default=None, primary_key=True)
    nagari_code: str = Field(foreign_key="nagari.code", max_length=13, index=True)
    # Both None: the nagari's own link (its posters); a jorong's or an agent's (or both) else.
    jorong: str | None = Field(default=None, max_length=50)
    agent: str | None = Field(default=None, max_length=50)
    # nagari|jorong|agent with the names folded: one row per link, whoever asks for it again.
    key: str = Field(max_length=120, unique=True)
    created_at: datetime = _utc_column(nullable=False)
    created_by: str = Field(max_length=80)


def link_key(nagari_code: str, jorong: str | None, agent: str | None) -> str:
    return "|".join((nagari_code, fold_name(jorong or ""), fold_name(agent or "")))


async def link_for(session: AsyncSession, nagari_code: str, jorong: str | None, agent: str | None,
                   actor: str, now: datetime) -> RecruitmentLink:
    """The link of a nagari (and jorong, and agent), made on first request. Two officials asking
    at the same moment get the same row (the unique key; the loser reads the winner's)."""
    key = link_key(nagari_code, jorong, agent)
    query = select(RecruitmentLink).where(RecruitmentLink.key == key)
    found = (await session.execute(query)).scalar_one_or_none()
    if found is not None:
        return found
    row = RecruitmentLink(nagari_code=nagari_code, jorong=jorong or None, agent=agent or None, key=key,
                          created_at=now, created_by=actor)
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return (await session.execute(query)).scalar_one()
    return row


async def links_by_id(session: AsyncSession, ids: set[int]) -> dict[int, RecruitmentLink]:
    if not ids:
        return {}
    rows = (await session.execute(select(RecruitmentLink).where(RecruitmentLink.id.in_(sorted(ids))))).scalars()
    return {row.id: row for row in rows if row.id is not None}
