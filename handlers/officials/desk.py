"""The desk: one official's command inside one transaction (`Desk`), how a notice reaches a
worker, and the official's pending prompt ("the next message is the reason for ...")."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.events import Button, Reply
from conversations.officials import (
    Command,
    OfficialsRules,
    Say,
    assisted_by,
)
from conversations.validators import format_phone
from handlers.clock import LOCAL_TZ
from handlers.roles import Grant
from handlers.delivery import Outgoing, reaches_outside_window
from handlers.services import Services
from handlers.turn import Turn
from storage.models import Conversation, Nagari, Person, Registration
from storage.repo import Repository

log = logging.getLogger(__name__)


NAGARI_CODE = re.compile(r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$")
INVITATION_CODE_LENGTH = 8
# Problems listed one per line in an import report (Telegram: 4096 characters per message).
MAX_PROBLEM_LINES = 30


@dataclass
class Desk:
    """One official's command, inside one database transaction."""

    svc: Services
    session: AsyncSession
    who: str
    grants: list[Grant]
    now: datetime
    say: Say
    out: list[Outgoing] = field(default_factory=list)
    # What the official must know about notices to workers, added to the next answer.
    notes: list[str] = field(default_factory=list)
    # Someone's roles changed in this command (handlers/turn.py tells the channels after the commit).
    roles_changed: bool = False

    @property
    def repo(self) -> Repository:
        return Repository(self.session, self.svc.cipher)

    @property
    def rules(self) -> OfficialsRules:
        return self.svc.config.officials

    def answer(self, key: str, buttons: tuple[Button, ...] = (), **params: object) -> None:
        self.send(self.say.reply(key, buttons, **params))

    def send(self, reply: Reply) -> None:
        """An answer to the official, with the notes waiting for it."""
        if self.notes:
            reply = dataclasses.replace(reply, text="\n".join([reply.text, *self.notes]))
            self.notes = []
        self.out.append(Outgoing(self.who, reply))

    def not_allowed(self) -> None:
        self.answer("official.not_allowed")

    def tell_worker(self, registration: Registration, key: str, **params: object) -> None:
        """A notice in the worker's language, on the worker's own phone, and the truth about it
        added to the official's answer (reached in their chat, by WhatsApp template, or not)."""
        say = Say(self.svc.catalog, registration.lang)
        reply = say.reply(key, reference=registration.reference, **params)
        outgoing, note = worker_notice(self.svc, registration, reply)
        self.note(note[0], **note[1])
        self.out.extend(outgoing)

    def note(self, key: str, **params: object) -> None:
        """Add a sentence to the official's latest answer (one message, its key unchanged), or
        to the next answer when none was given yet."""
        text = self.say.t(key, **params)
        for index in range(len(self.out) - 1, -1, -1):
            if self.out[index].to == self.who:
                reply = self.out[index].reply
                if text not in reply.text:
                    self.out[index] = Outgoing(self.who, dataclasses.replace(reply, text=f"{reply.text}\n{text}"))
                return
        if text not in self.notes:
            self.notes.append(text)

    def local(self, moment: datetime | None) -> str:
        return moment.astimezone(LOCAL_TZ).strftime("%d-%m-%Y %H:%M") if moment else "-"

    async def nagari(self, code: str) -> Nagari | None:
        return await self.session.get(Nagari, code)

    async def nagari_name(self, code: str) -> str:
        nagari = await self.nagari(code)
        return nagari.name if nagari else code

    async def nagari_label(self, code: str) -> str:
        """The nagari as officials see it: its name with its Kemendagri code."""
        return f"{await self.nagari_name(code)} ({code})"

    async def audit(self, action: str, reference: str | None = None, **details: object) -> None:
        await self.repo.audit(self.who, action, self.now, reference, **details)


Handler = Callable[[Desk, Command], Awaitable[None]]


def worker_notice(svc: Services, registration: Registration,
                  reply: Reply) -> tuple[list[Outgoing], tuple[str, dict[str, object]]]:
    """Where a notice to a worker goes, and what the official is told about it. A worker who
    wrote to the bot gets it in their chat. A worker registered in person never did: on
    WhatsApp the notice goes to their own number, announced by its approved template (outside the
    24-hour window WhatsApp allows nothing else); without WhatsApp, or while no template for it
    is approved, the operator gets the text and is told to pass it on in person."""
    operator = assisted_by(registration.channel_user)
    if operator is None:
        return [Outgoing(registration.channel_user, reply)], ("official.notice.sent", {})
    phone = format_phone(registration.phone)
    if "wa" in svc.senders and registration.phone.startswith("+"):
        if reaches_outside_window(svc.senders, reply.key, registration.lang):
            return [Outgoing("wa:" + registration.phone[1:], reply)], ("official.notice.whatsapp", {"phone": phone})
        return [Outgoing(operator, reply)], ("official.notice.no_template", {"phone": phone})
    return [Outgoing(operator, reply)], ("official.notice.in_person", {"phone": phone})


async def run(turn: Turn, grants: list[Grant], work: Callable[[Desk], Awaitable[None]]) -> None:
    """Run one command inside the turn's transaction; what it says joins the turn's messages."""
    desk = Desk(turn.svc, turn.session, turn.who, grants, turn.now, Say(turn.svc.catalog, turn.language))
    await work(desk)
    turn.out.extend(desk.out)
    turn.roles_changed = turn.roles_changed or desk.roles_changed


async def language_of(svc: Services, session: AsyncSession, who: str) -> str:
    lang = (await session.execute(select(Person.lang).where(Person.channel_user == who))).scalar_one_or_none()
    return lang or svc.rules.default_language


async def refuse(desk: Desk, command: Command) -> None:
    """Someone without any grant used an official command or button."""
    desk.not_allowed()


# The official's pending desk prompt ("the next message is the reason for ..."), kept in the
# conversations table under "desk:<official>" at an idle step (never a draft to remind about).
DESK_PREFIX = "desk:"


async def set_desk_prompt(desk: Desk, prompt: dict[str, object] | None) -> None:
    key = DESK_PREFIX + desk.who
    await desk.repo.forget_state(key)
    if prompt is not None:
        desk.session.add(Conversation(channel_user=key, step="idle", state=json.dumps(prompt), updated_at=desk.now))


async def desk_prompt_of(session: AsyncSession, who: str) -> dict[str, object] | None:
    """The reason an official was asked to type in their next message, if any."""
    row = await session.get(Conversation, DESK_PREFIX + who)
    return json.loads(row.state) if row is not None else None
