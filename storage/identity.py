"""One person, several addresses: the chats (Telegram, WhatsApp) a person has linked together.

Every channel keys people on its own id (`tg:<id>`, `wa:<wa_id>`); a worker who registered on
WhatsApp and writes from Telegram is, to the channel, somebody new. `PersonAddress` joins them:
each linked address points at the person's first address (`person`), and everything that asks
"whose registration is this?" asks with `addresses_of(who)`. An address that was never linked
is its own person, with no row.

`LinkCode` is the proof that two chats belong to one person: "hubungkan" on one chat gives a
6-character code (kept as a keyed hash, never in clear), valid 15 minutes and single-use; typed
on the other chat it links the two (handlers/identity.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage.models import _utc_column


class PersonAddress(SQLModel, table=True):
    __tablename__ = "person_address"

    address: str = Field(primary_key=True, max_length=80)
    person: str = Field(max_length=80, index=True)
    method: str = Field(max_length=20)  # code (a link code) | tap (an in-person registration's number)
    linked_at: datetime = _utc_column(nullable=False)


class LinkCode(SQLModel, table=True):
    __tablename__ = "link_code"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True)
    person: str = Field(max_length=80, index=True)  # the chat that asked for it
    created_at: datetime = _utc_column(nullable=False)
    expires_at: datetime = _utc_column(nullable=False)
    used_at: datetime | None = _utc_column(nullable=True)
    used_by: str | None = Field(default=None, max_length=80)


async def person_of(session: AsyncSession, address: str) -> str:
    """The person an address belongs to: its link's first address, else itself."""
    found = (await session.execute(select(PersonAddress.person).where(PersonAddress.address == address)))
    return found.scalar_one_or_none() or address


async def addresses_of(session: AsyncSession, address: str) -> list[str]:
    """Every address of the person `address` belongs to, `address` first."""
    person = await person_of(session, address)
    linked = (await session.execute(select(PersonAddress.address).where(PersonAddress.person == person))).scalars()
    return list(dict.fromkeys([address, person, *linked]))


async def link(session: AsyncSession, first: str, second: str, method: str, now: datetime) -> str:
    """Join the persons of two addresses (caller commits): everything of `second`'s person now
    points at `first`'s. Returns the person."""
    person, other = await person_of(session, first), await person_of(session, second)
    if person == other:
        return person
    await session.execute(update(PersonAddress).where(PersonAddress.person == other).values(person=person))
    existing = set((await session.execute(select(PersonAddress.address).where(
        PersonAddress.address.in_([person, other, second])))).scalars())
    for address in dict.fromkeys([person, other, second]):
        if address not in existing:
            session.add(PersonAddress(address=address, person=person, method=method, linked_at=now))
    await session.flush()
    return person


async def unlink(session: AsyncSession, address: str) -> list[str]:
    """Take `address` out of its person (caller commits); the others stay linked together.
    Returns the addresses it was linked to."""
    group = await addresses_of(session, address)
    others = [a for a in group if a != address]
    if not others:
        return []
    await session.execute(delete(PersonAddress).where(PersonAddress.address == address))
    rest = others[0]
    await session.execute(update(PersonAddress).where(PersonAddress.person == address).values(person=rest))
    if len(others) == 1:
        # One address left: a person of its own, with no row.
        await session.execute(delete(PersonAddress).where(or_(PersonAddress.address == rest,
                                                              PersonAddress.person == rest)))
    return others
