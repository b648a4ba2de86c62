"""The values of a template's parameters, read from what the programme knows of the person.

A template carries a few short facts ({{1}}, {{2}}...) inside fixed words Meta has approved:
the person's name, a registration reference, a nagari, a date, a ticket code, a place and a
subject for officials. They come from the database at the moment of sending -- the person's
latest registration (by the chat it was made from, or by its phone number for a worker an
operator registered in person), their draft's last activity, their latest ticket, an official's
grants -- and from the message the template stands in for (a reference or a date in its text).

Where nothing is known (an invitation to somebody who never registered), a kind word from the
catalog stands in ("Bapak/Ibu", "Anda"): a parameter is never empty. Every value is put on one
line and cut to `VALUE_MAX`: Meta refuses new lines, tabs and runs of 4 spaces in a parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.whatsapp.templates import VALUE_MAX, TemplateDef
from conversations.i18n import Catalog
from handlers.clock import LOCAL_TZ
from storage.models import Conversation, Nagari, Registration
from storage.officials import Official
from storage.tickets import Ticket

REFERENCE = re.compile(r"\bSJ-[A-Z0-9]{6}\b")
DATE = re.compile(r"\b\d{2}-\d{2}-\d{4}\b")
# The subject of an officials' notice, by the catalog key of the message it announces.
SUBJECTS = (
    ("handover.official.", "template.subject.ticket"),
    ("reminder.pending_digest", "template.subject.pending"),
    ("programme.withdrawal", "template.subject.withdrawal"),
    ("programme.", "template.subject.programme"),
    ("campaign.", "template.subject.campaign"),
    ("template_admin.", "template.subject.templates"),
    ("claims.official.", "template.subject.claims"),
)


@dataclass(frozen=True)
class Context:
    """What the values are read from: the receiver, the message announced, its language."""

    to: str  # "wa:<number>"
    key: str
    text: str
    lang: str


def one_line(value: str) -> str:
    """A parameter value as Meta takes it: one line, single spaces, at most VALUE_MAX."""
    value = " ".join(value.split())
    return value if len(value) <= VALUE_MAX else value[:VALUE_MAX - 1].rstrip() + "…"


def local_date(moment: datetime | None) -> str | None:
    return moment.astimezone(LOCAL_TZ).strftime("%d-%m-%Y") if moment else None


class Values:
    """Reads each named parameter at most once per message."""

    def __init__(self, session: AsyncSession, catalog: Catalog, regency: str, context: Context) -> None:
        self.session, self.catalog, self.regency, self.context = session, catalog, regency, context
        self._registration: Registration | None | bool = False

    def fallback(self, param: str) -> str:
        return self.catalog.text(self.context.lang, f"template.value.{param}")

    async def registration(self) -> Registration | None:
        if self._registration is False:
            to = self.context.to
            phone = "+" + to.split(":", 1)[1]
            self._registration = (await self.session.execute(
                select(Registration).where(or_(Registration.channel_user == to, Registration.phone == phone))
                .order_by(Registration.created_at.desc(), Registration.id.desc()).limit(1))).scalar_one_or_none()
        return self._registration if isinstance(self._registration, Registration) else None

    async def of(self, template: TemplateDef) -> list[str]:
        return [one_line(await self.value(param) or self.fallback(param)) for param in template.params]

    async def value(self, param: str) -> str | None:
        reading = getattr(self, f"read_{param}", None)
        return await reading() if reading is not None else None

    async def read_name(self) -> str | None:
        registration = await self.registration()
        return registration.name if registration else None

    async def read_reference(self) -> str | None:
        match = REFERENCE.search(self.context.text)
        if match:
            return match.group(0)
        registration = await self.registration()
        return registration.reference if registration else None

    async def read_nagari(self) -> str | None:
        registration = await self.registration()
        if registration is None:
            return None
        nagari = await self.session.get(Nagari, registration.nagari_code)
        return nagari.name if nagari else None

    async def read_kpj(self) -> str | None:
        registration = await self.registration()
        return registration.kpj if registration else None

    async def read_date(self) -> str | None:
        """A reminder: the day the draft was last touched; a coverage notice: the day the
        cover ends (written in the message, else the registration's)."""
        if self.context.key.startswith("reminder.unfinished"):
            updated = (await self.session.execute(select(Conversation.updated_at).where(
                Conversation.channel_user == self.context.to))).scalar_one_or_none()
            return local_date(updated)
        match = DATE.search(self.context.text)
        if match:
            return match.group(0)
        registration = await self.registration()
        return local_date(registration.ends_at) if registration else None

    async def read_ticket(self) -> str | None:
        ticket_id = (await self.session.execute(select(Ticket.id).where(Ticket.channel_user == self.context.to)
                                                .order_by(Ticket.id.desc()).limit(1))).scalar_one_or_none()
        return f"T{ticket_id}" if ticket_id is not None else None

    async def read_place(self) -> str | None:
        """The nagari the official serves (the regency for an admin or a regency-wide grant)."""
        grants = (await self.session.execute(select(Official.role, Official.nagari_code).where(
            Official.channel_user == self.context.to, Official.revoked_at.is_(None)))).all()
        codes = sorted({code for _, code in grants if code})
        if len(codes) != 1 or any(code is None for _, code in grants):
            return self.regency
        nagari = await self.session.get(Nagari, codes[0])
        return self.catalog.text(self.context.lang, "template.value.place_nagari", name=nagari.name) \
            if nagari else self.regency

    async def read_subject(self) -> str | None:
        key = self.context.key
        for prefix, subject in SUBJECTS:
            if key.startswith(prefix):
                return self.catalog.text(self.context.lang, subject)
        return None


async def is_official(session: AsyncSession, to: str) -> bool:
    return (await session.execute(select(Official.id).where(Official.channel_user == to,
                                                            Official.revoked_at.is_(None)).limit(1))).first() is not None
