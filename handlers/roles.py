"""Who may do what, for which nagari: the one place that answers authorisation questions.

Every official command asks `allowed(grants, action, nagari_code)`. A refusal is answered with
a plain "not allowed" that reveals nothing about whether the record exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Person
from storage.officials import Official


@dataclass(frozen=True)
class Grant:
    role: str  # admin | operator | viewer
    nagari_code: str | None  # operator's nagari; None = every nagari


# action -> roles allowed. An operator is allowed only for its own nagari (see `allowed`).
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset({"admin", "operator", "viewer"}),  # queue, details, history, quota, stats
    "decide": frozenset({"admin", "operator"}),  # approve, reject, ask for a correction
    "export": frozenset({"admin", "operator", "viewer"}),
    "import": frozenset({"admin"}),  # enrolment results from BPJS
    "register_for": frozenset({"admin", "operator"}),  # assisted registration
    "reveal_nik": frozenset({"operator"}),  # full NIK, on explicit request, audited
    "invite": frozenset({"admin"}),
    "manage_officials": frozenset({"admin"}),
    "set_quota": frozenset({"admin"}),
    "broadcast": frozenset({"admin"}),
    "handover": frozenset({"admin", "operator"}),  # tickets: a worker asked for a person
    "links": frozenset({"admin", "operator"}),  # recruitment links and posters (/tautan)
}


def allowed(grants: list[Grant] | tuple[Grant, ...], action: str, nagari_code: str | None = None) -> bool:
    """True if any grant permits `action` on `nagari_code` (None: the action is not about one
    nagari, e.g. listing; an operator is then limited to its own nagari by the caller's query)."""
    roles = PERMISSIONS[action]
    for grant in grants:
        if grant.role not in roles:
            continue
        if grant.role == "operator" and nagari_code is not None and grant.nagari_code != nagari_code:
            continue
        return True
    return False


def scope(grants: list[Grant] | tuple[Grant, ...], action: str) -> set[str] | None:
    """The nagari codes an action may touch: None means all; an empty set means none."""
    roles = PERMISSIONS[action]
    codes: set[str] = set()
    for grant in grants:
        if grant.role not in roles:
            continue
        if grant.role != "operator":
            return None
        if grant.nagari_code:
            codes.add(grant.nagari_code)
    return codes


async def grants_of(session: AsyncSession, channel_user: str) -> list[Grant]:
    rows = await session.execute(
        select(Official.role, Official.nagari_code)
        .where(Official.channel_user == channel_user, Official.revoked_at.is_(None)))
    return [Grant(role, nagari) for role, nagari in rows.all()]


async def grant(session: AsyncSession, channel_user: str, role: str, nagari_code: str | None,
                added_by: str, now: datetime) -> Official:
    if role == "operator" and not nagari_code:
        raise ValueError("an operator needs a nagari")
    if role != "operator":
        nagari_code = None
    existing = (await session.execute(select(Official).where(
        Official.channel_user == channel_user, Official.role == role, Official.nagari_code.is_(None)
        if nagari_code is None else Official.nagari_code == nagari_code))).scalar_one_or_none()
    if existing is not None:
        existing.revoked_at = None
        return existing
    official = Official(channel_user=channel_user, role=role, nagari_code=nagari_code, added_by=added_by, added_at=now)
    session.add(official)
    await session.flush()
    return official


async def officials_of_nagari(session: AsyncSession, nagari_code: str, role: str = "operator") -> list[str]:
    rows = await session.execute(select(Official.channel_user).where(
        Official.role == role, Official.nagari_code == nagari_code, Official.revoked_at.is_(None)))
    return list(rows.scalars().all())


async def admins(session: AsyncSession) -> list[str]:
    rows = await session.execute(select(Official.channel_user).where(
        Official.role == "admin", Official.revoked_at.is_(None)))
    return list(rows.scalars().all())


@dataclass(frozen=True)
class OfficialsOf:
    """The officials of one channel as they stand: each active one's roles and language (None:
    no Person row yet), and those whose every grant is revoked."""

    active: dict[str, tuple[frozenset[str], str | None]]
    former: frozenset[str]


async def officials_of_channel(session: AsyncSession, channel: str) -> OfficialsOf:
    """One query: every grant ever given on `channel` ("tg"), with the person's language."""
    rows = await session.execute(
        select(Official.channel_user, Official.role, Official.revoked_at, Person.lang)
        .outerjoin(Person, Person.channel_user == Official.channel_user)
        .where(Official.channel_user.startswith(f"{channel}:")))
    roles: dict[str, set[str]] = {}
    langs: dict[str, str | None] = {}
    for channel_user, role, revoked_at, lang in rows.all():
        held = roles.setdefault(channel_user, set())
        if revoked_at is None:
            held.add(role)
        langs[channel_user] = lang
    return OfficialsOf(active={user: (frozenset(held), langs[user]) for user, held in roles.items() if held},
                       former=frozenset(user for user, held in roles.items() if not held))
