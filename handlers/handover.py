"""Use-case: a person to talk to. A worker asks for an official; the officials of their nagari
(or the admins, the regency desk) answer through the bot; the form waits meanwhile.

A route of handlers.router, after the officials' commands and before the after-submission
answers and the registration (`route`):

- a worker who asks ("petugas", "saya mau bicara dengan petugas", "talk to someone", or the
  button offered after three failed tries) gets a ticket (storage/tickets.py). It is routed to
  the operators of the worker's nagari, or to the admins when the nagari is not known yet or has
  no operator; they get it at once, with the worker's masked details, the question and buttons
  to take and close it. The worker is told who will answer and when (`handover:` office hours);
- while the ticket is open the registration is paused: the worker's messages go to the official
  who holds the ticket, or to all its officials while nobody does: text as a line of the ticket,
  a photo, voice note, video, document, sticker or location as it came when the official is on
  the worker's channel (Telegram copies it, WhatsApp sends its media again), else as a note that
  it arrived, and then the worker is told it could not be passed on. "lanjut" takes the worker back to
  the form; "hapus data" and "data saya" still work;
- an official takes a ticket (`/ambil T12`, or its button; one official at a time), answers
  (`/balas T12 teks`, or on Telegram a reply to the ticket's message) and closes it
  (`/tutup T12`): the worker is told and the form asks again the question it had reached;
- the scheduler (`tickets_due`) reminds the officials of an unanswered ticket, sends one nobody
  took in time to the admins, and closes a silent one, telling the worker how to open another.

An official sees only the tickets of their own nagari (an admin: all; a regency-desk ticket:
the admins only). Messages are stored encrypted, never logged, and deleted with the person's
data; the audit trail records who took, answered and closed which ticket, and when.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from conversations import registration as flow
from conversations.events import Button, ButtonPress, Media, Reply, Text
from conversations.form import FIELDS, TOTAL_STEPS, Ctx
from conversations.handover import (
    BUTTON_PREFIX,
    HandoverRules,
    TicketCommand,
    asks_for_a_person,
    day_range,
    parse_ticket_command,
    short,
)
from conversations.officials import Say
from conversations.reports import number
from conversations.understand import back_to_form, person_question
from conversations.relay import plain, quoted
from conversations.validators import contains_nik, mask_nik, mask_niks_in
from handlers.clock import LOCAL_TZ
from handlers.delivery import Priority, channel_of, reaches_outside_window
from handlers.outbox import NewMessage, delivery_rules, enqueue
from handlers.roles import Grant, admins, allowed, grants_of, officials_of_nagari
from handlers.services import Services
from handlers.turn import Turn
from storage.models import Nagari, Person, Registration
from storage.repo import Repository
from storage.tickets import OPEN_STATES, Ticket, TicketMessage, ticket_id_of, ticket_in

log = logging.getLogger(__name__)
BACK_BUTTON = BUTTON_PREFIX + "back"
# A worker's commands that still work while the form is paused (their rights: see, delete).
PASSING_COMMANDS = frozenset({"delete", "mydata"})
MAX_LIST_LINES = 30


def handover_rules(svc: Services) -> HandoverRules:
    return svc.config.handover


# ---------------------------------------------------------------------------------------------
# The route

async def route(turn: Turn) -> bool:
    """Officials' ticket commands; a worker asking for a person; a worker's messages while their
    ticket is open. Everything else passes on."""
    event = turn.event
    command = parse_ticket_command(event)
    if command is not None and not (turn.pre.is_official or command.slash or command.button):
        command = None  # a worker's "tutup aja" or "jawab dong" is a message, not a command
    if command is None and turn.pre.is_official and isinstance(event, Text) and event.quoted:
        replied_to = ticket_in(event.quoted)
        if replied_to is not None and not event.text.startswith("/") and event.text.strip():
            command = TicketCommand("reply", f"T{replied_to}", event.text.strip())
    if command is not None:
        grants = await turn.grants()
        if not allowed(grants, "handover"):
            turn.reply(turn.say("official.not_allowed"))
            return True
        await OfficialsDesk(turn, grants).run(command)
        return True
    if turn.pre.ticket_open:
        return await WorkerSide(turn).in_ticket()
    if not turn.pre.is_official and asks_for_a_person(event):
        await WorkerSide(turn).open()
        return True
    return False


# ---------------------------------------------------------------------------------------------
# Shared

async def langs_of(session: AsyncSession, people: list[str], default: str) -> dict[str, str]:
    if not people:
        return {}
    rows = await session.execute(select(Person.channel_user, Person.lang).where(Person.channel_user.in_(people)))
    found = dict(rows.all())
    return {who: found.get(who) or default for who in people}


async def recipients(session: AsyncSession, ticket: Ticket) -> list[str]:
    """Who the worker's messages go to: the official holding the ticket, else its nagari's
    operators, and the admins once it is a regency-desk ticket or was escalated."""
    if ticket.holder:
        # Removing an official hands their tickets back (handlers/removal.py): a holder is one.
        return [ticket.holder]
    people: list[str] = []
    if ticket.nagari_code and ticket.routed_to == "nagari":
        people.extend(await officials_of_nagari(session, ticket.nagari_code))
    if ticket.routed_to == "regency" or ticket.escalated_at is not None or not people:
        people.extend(await admins(session))
    return sorted(set(people))


def may_handle(grants: list[Grant], ticket: Ticket) -> bool:
    """Admins: every ticket. Operators: the tickets of their own nagari (a regency-desk ticket,
    with no nagari, is the admins')."""
    for grant in grants:
        if grant.role == "admin":
            return True
        if grant.role == "operator" and ticket.nagari_code and grant.nagari_code == ticket.nagari_code:
            return True
    return False


def official_label(say: Say, who: str, grants: list[Grant], nagari_names: dict[str, str]) -> str:
    """How an official is named to other officials and to the worker: role and nagari (the
    channel id's last digits tell two operators apart)."""
    tail = who.rsplit(":", 1)[-1][-4:]
    operator = next((g for g in grants if g.role == "operator" and g.nagari_code), None)
    if any(g.role == "admin" for g in grants) or operator is None:
        return say.t("handover.label.admin", tail=tail)
    return say.t("handover.label.operator", nagari=nagari_names.get(operator.nagari_code, operator.nagari_code),
                 tail=tail)


def local(moment: datetime | None) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%d-%m-%Y %H:%M") if moment else "-"


def waited(now: datetime, since: datetime, say: Say) -> str:
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return say.t("handover.age.minutes", n=minutes)
    if minutes < 48 * 60:
        return say.t("handover.age.hours", n=minutes // 60)
    return say.t("handover.age.days", n=minutes // (24 * 60))


def office_hours(svc: Services, say: Say, now: datetime) -> str:
    """When officials answer, in the worker's language: now, or from when."""
    rules = handover_rules(svc)
    local_now = now.astimezone(LOCAL_TZ)
    names = [say.t(f"handover.day.{n}") for n in range(1, 8)]
    params = {"days": day_range(rules.office_days, names), "open": rules.office_open.strftime("%H.%M"),
              "close": rules.office_close.strftime("%H.%M")}
    if rules.is_open(local_now):
        return say.t("handover.hours.open", **params)
    next_open = rules.next_open(local_now)
    return say.t("handover.hours.closed", next=f"{names[next_open.isoweekday() - 1]} {next_open:%d-%m-%Y %H.%M}",
                 **params)


async def resume_form(svc: Services, repo: Repository, worker: str, lang: str, now: datetime) -> list[Reply]:
    """The question the worker's paused form had reached, asked again (their state is kept)."""
    state = await repo.load_state(worker)
    if not (state.in_form or state.confirm or state.correcting):
        return []
    ctx = Ctx(rules=svc.rules, catalog=svc.catalog, wilayah=svc.wilayah, now=now.astimezone(LOCAL_TZ),
              channel_user=worker, known_phone=None)
    outcome = flow.resume(state, ctx)
    await repo.save_state(worker, outcome.state, now)
    return outcome.replies


async def add_message(session: AsyncSession, svc: Services, ticket: Ticket, author: str, direction: str,
                      kind: str, text: str | None, now: datetime) -> None:
    session.add(TicketMessage(ticket_id=ticket.id or 0, author=author, direction=direction, kind=kind,
                              body_enc=svc.cipher.encrypt(text) if text else None, at=now))


def step_label(say: Say, step: str | None, registration: Registration | None) -> str:
    if step in FIELDS:
        return say.t("handover.step.form", n=FIELDS[step].progress, total=TOTAL_STEPS)
    if step == "summary":
        return say.t("handover.step.summary")
    if registration is not None:
        return say.t("handover.step.registered", reference=registration.reference,
                     status=say.status(registration.status))
    return say.t("handover.step.none")


# ---------------------------------------------------------------------------------------------
# The worker's side

@dataclass
class WorkerSide:
    turn: Turn

    @property
    def say(self) -> Say:
        return Say(self.turn.svc.catalog, self.turn.language)

    async def open(self) -> None:
        turn = self.turn
        svc, session, now = turn.svc, turn.session, turn.now
        state = turn.state()
        limit = svc.config.limits.tickets_per_day
        day_start = datetime.combine(now.astimezone(LOCAL_TZ).date(), time(0), tzinfo=LOCAL_TZ)
        opened_today = (await session.execute(select(func.count()).select_from(Ticket).where(
            Ticket.channel_user == turn.who, Ticket.opened_at >= day_start))).scalar_one()
        if opened_today >= limit:
            contact = svc.rules.help.for_nagari(state.answers.get("nagari_code"), turn.language)
            turn.reply(self.say.reply("handover.limit.day", count=limit, contact=contact))
            return
        registrations = list(await turn.repo.registrations_of(turn.who))
        latest = max(registrations, key=lambda r: (r.created_at, r.id or 0)) if registrations else None
        nagari_code = state.answers.get("nagari_code") or (latest.nagari_code if latest else None)
        operators = await officials_of_nagari(session, nagari_code) if nagari_code else []
        question = person_question(turn.event.text) if isinstance(turn.event, Text) else None
        # What the worker writes is passed on and kept, but a NIK in it never in clear.
        question = mask_niks_in(question) if question else None
        ticket = Ticket(channel_user=turn.who, nagari_code=nagari_code, routed_to="nagari" if operators else "regency",
                        step=state.step, question_enc=svc.cipher.encrypt(question) if question else None,
                        lang=turn.language, status="open", opened_at=now, last_activity_at=now)
        session.add(ticket)
        await session.flush()
        if question:
            await add_message(session, svc, ticket, turn.who, "in", "text", question, now)
        await turn.repo.audit(turn.who, "ticket_opened", now, ticket.code, ticket=ticket.id, nagari=nagari_code,
                              routed_to=ticket.routed_to)
        names = dict((await session.execute(select(Nagari.code, Nagari.name))).all())
        say = self.say
        desk = (say.t("handover.desk.nagari", nagari=names.get(nagari_code, nagari_code))
                if operators and nagari_code else say.t("handover.desk.regency"))
        buttons = (Button(BACK_BUTTON, say.t("handover.btn.back")),) if state.in_form or state.confirm else ()
        contact = svc.rules.help.for_nagari(nagari_code, turn.language)
        turn.reply(say.reply("handover.opened" if question else "handover.opened_ask", buttons, code=ticket.code,
                             desk=desk, hours=office_hours(svc, say, now), contact=contact))
        nik = state.answers.get("nik")
        if nik is None and latest is not None:
            nik = svc.cipher.decrypt(latest.nik_enc)
        name = state.answers.get("name") or (latest.name if latest else None)
        details = TicketDetails(ticket, name, mask_nik(nik) if nik else None, names.get(nagari_code or "", ""),
                                step=state.step, registration=latest, question=question)
        people = await recipients(session, ticket)
        if not people:
            log.warning("ticket %s has nobody to answer it: no operator and no admin", ticket.code)
        await notify_new(turn, details, people)

    async def in_ticket(self) -> bool:
        turn = self.turn
        svc, session, now, event = turn.svc, turn.session, turn.now, turn.event
        text = event.text.strip() if isinstance(event, Text) else None
        if text is not None and flow.command_of(text) in PASSING_COMMANDS or turn.state().confirm == "delete":
            return False  # their rights: the flow asks and confirms; the form stays paused
        ticket = (await session.execute(select(Ticket).where(
            Ticket.channel_user == turn.who, Ticket.status.in_(OPEN_STATES)))).scalar_one_or_none()
        if ticket is None:
            return False
        say = self.say
        if (text is not None and (back_to_form(text) or flow.command_of(text) == "cancel")) or (
                isinstance(event, ButtonPress) and event.button_id == BACK_BUTTON):
            await close_ticket(turn.svc, session, ticket, "worker", now)
            await turn.repo.audit(turn.who, "ticket_closed", now, ticket.code, ticket=ticket.id, by="worker")
            turn.reply(say.reply("handover.worker_closed", code=ticket.code))
            turn.reply(*await resume_form(svc, turn.repo, turn.who, turn.language, now))
            for who, lang in (await langs_of(session, await recipients(session, ticket), svc.rules.default_language)).items():
                turn.reply(Say(svc.catalog, lang).reply("handover.official.worker_closed", code=ticket.code), to=who)
            return True
        if isinstance(event, ButtonPress):
            # A button of the paused form: the form waits.
            turn.reply(say.reply("handover.paused", (Button(BACK_BUTTON, say.t("handover.btn.back")),),
                                 code=ticket.code))
            return True
        if text is not None and asks_for_a_person(event) and person_question(text) is None:
            turn.reply(say.reply("handover.still_open", code=ticket.code))
            return True
        if text is not None and len(text) > svc.rules.conversation.max_input_chars:
            turn.reply(say.reply("input.too_long", max=svc.rules.conversation.max_input_chars))
            return True
        kind = "text" if text is not None else (event.kind if isinstance(event, Media) else "unsupported")
        text = mask_niks_in(text) if text else text
        if kind in ("reaction", "unreaction", "reaction_removed") or (text is not None and not text):
            return True
        media = event if isinstance(event, Media) else None
        # What the worker wrote with a photo goes on like their text: a NIK in it masked.
        caption = (mask_niks_in(short(media.caption, svc.rules.conversation.max_input_chars))
                   if media is not None and media.caption and media.caption.strip() else None)
        await add_message(session, svc, ticket, turn.who, "in", kind, text if text is not None else caption, now)
        waiting, since = ticket.unpushed, ticket.pushed_at  # before the UPDATEs below refresh the object
        if text is not None and not self.due_push(ticket):
            # Within a minute of the last push: collected, and pushed with its count later.
            await session.execute(update(Ticket).where(Ticket.id == ticket.id).values(
                last_activity_at=now, unpushed=Ticket.unpushed + 1))
            if ticket.holder is None:
                turn.reply(say.reply("handover.forwarded", code=ticket.code))
            return True
        await session.execute(update(Ticket).where(Ticket.id == ticket.id).values(
            last_activity_at=now, **({"pushed_at": now, "unpushed": 0} if text is not None else {})))
        if text is not None and waiting:
            text = await waiting_text(svc, session, ticket, since, now) or text
        people = await recipients(session, ticket)
        ref = media.ref if media is not None and kind in MEDIA_WORDS else None
        with_caption = {"caption": quoted(caption)} if caption else {}
        passed_on = False
        for who, lang in (await langs_of(session, people, svc.rules.default_language)).items():
            official = Say(svc.catalog, lang)
            word = official.t(f"handover.media.{kind}" if kind in MEDIA_WORDS else "handover.media.other")
            if text is not None and waiting:
                reply = official.reply("handover.official.messages", code=ticket.code, count=waiting + 1,
                                       text=quoted(text))
            elif text is not None:
                reply = official.reply("handover.official.message", code=ticket.code, text=quoted(text))
            elif passes_on(ref, who):
                # The channel sends the worker's media again, with the ticket's line.
                key = "handover.official.forwarded_caption" if caption else "handover.official.forwarded"
                reply = replace(official.reply(key, code=ticket.code, kind=word, **with_caption), forward=ref)
                passed_on = True
            else:
                key = "handover.official.media_caption" if caption else "handover.official.media"
                reply = official.reply(key, code=ticket.code, kind=word, **with_caption)
            turn.reply(reply, to=who)
        if text is None and not passed_on:
            turn.reply(say.reply("handover.media_note", code=ticket.code))
        elif ticket.holder is None:
            turn.reply(say.reply("handover.forwarded", code=ticket.code))
        return True


    def due_push(self, ticket: Ticket) -> bool:
        """Whether the worker's text may reach the officials now (limits.ticket_push_seconds)."""
        every = timedelta(seconds=self.turn.svc.config.limits.ticket_push_seconds)
        return ticket.pushed_at is None or self.turn.now - ticket.pushed_at >= every


async def waiting_text(svc: Services, session: AsyncSession, ticket: Ticket, since: datetime | None,
                       now: datetime) -> str | None:
    """The worker's texts after `since` (the last push), oldest first, one paragraph each."""
    rows = (await session.execute(select(TicketMessage.body_enc).where(
        TicketMessage.ticket_id == ticket.id, TicketMessage.direction == "in", TicketMessage.kind == "text",
        TicketMessage.at > (since or ticket.opened_at), TicketMessage.at <= now)
        .order_by(TicketMessage.at, TicketMessage.id))).scalars().all()
    texts = [svc.cipher.decrypt(body) for body in rows if body]
    return "\n\n".join(texts) if texts else None


async def push_waiting(svc: Services, session: AsyncSession, ticket: Ticket, now: datetime) -> list[NewMessage]:
    """Scheduler: the texts collected within a minute of the last push, in one message with their
    count, once the minute is over (a conditional UPDATE: one process pushes them)."""
    every = timedelta(seconds=svc.config.limits.ticket_push_seconds)
    count, since = ticket.unpushed, ticket.pushed_at
    result = await session.execute(update(Ticket).where(
        Ticket.id == ticket.id, Ticket.unpushed == count, Ticket.pushed_at <= now - every)
        .values(pushed_at=now, unpushed=0).execution_options(synchronize_session=False))
    if not result.rowcount:
        return []
    text = await waiting_text(svc, session, ticket, since, now)
    if text is None:
        return []
    out = []
    for who, lang in (await langs_of(session, await recipients(session, ticket), svc.rules.default_language)).items():
        say = Say(svc.catalog, lang)
        out.append(NewMessage(who, "handover.official.messages",
                              say.t("handover.official.messages", code=ticket.code, count=count, text=quoted(text)),
                              "transactional", lang, f"ticket:{ticket.id}:push:{int(now.timestamp())}:{who}",
                              Priority.NOTIFY))
    return out


MEDIA_WORDS = frozenset({"photo", "voice", "audio", "video", "document", "sticker", "location"})


def passes_on(ref: str | None, official: str) -> bool:
    """Whether the official's channel can send the worker's message as it came: a platform
    passes on only its own messages (Telegram copies a Telegram message, WhatsApp sends a
    WhatsApp media id again); across channels the official gets a note instead."""
    return ref is not None and channel_of(ref) == channel_of(official)


@dataclass(frozen=True)
class TicketDetails:
    ticket: Ticket
    name: str | None
    nik: str | None  # masked
    nagari: str
    step: str | None
    registration: Registration | None
    question: str | None


def channel_name(who: str) -> str:
    return {"wa": "WhatsApp", "tg": "Telegram"}.get(who.split(":", 1)[0], who.split(":", 1)[0])


def ticket_buttons(say: Say, ticket: Ticket) -> tuple[Button, ...]:
    return (Button(f"{BUTTON_PREFIX}take:{ticket.id}", say.t("handover.btn.take", code=ticket.code)),
            Button(f"{BUTTON_PREFIX}close:{ticket.id}", say.t("handover.btn.close", code=ticket.code)))


def new_ticket_text(say: Say, details: TicketDetails, escalated: bool = False) -> str:
    ticket = details.ticket
    return say.t("handover.official.escalated" if escalated else "handover.official.new", code=ticket.code,
                 name=plain(short(details.name)) if details.name else "-", nik=details.nik or "-",
                 nagari=details.nagari or say.t("handover.nagari_unknown"), channel=channel_name(ticket.channel_user),
                 step=step_label(say, details.step, details.registration),
                 question=plain(short(details.question)) if details.question else say.t("handover.no_question"))


async def notify_new(turn: Turn, details: TicketDetails, people: list[str]) -> None:
    svc = turn.svc
    for who, lang in (await langs_of(turn.session, people, svc.rules.default_language)).items():
        say = Say(svc.catalog, lang)
        turn.reply(Reply("handover.official.new", new_ticket_text(say, details), ticket_buttons(say, details.ticket)),
                   to=who)


async def details_of(svc: Services, session: AsyncSession, ticket: Ticket) -> TicketDetails:
    """The masked details of a ticket's worker as they are now (for reminders and escalations)."""
    repo = Repository(session, svc.cipher)
    state = await repo.load_state(ticket.channel_user)
    registrations = list(await repo.registrations_of(ticket.channel_user))
    latest = max(registrations, key=lambda r: (r.created_at, r.id or 0)) if registrations else None
    nik = state.answers.get("nik") or (svc.cipher.decrypt(latest.nik_enc) if latest else None)
    nagari = await session.get(Nagari, ticket.nagari_code) if ticket.nagari_code else None
    question = svc.cipher.decrypt(ticket.question_enc) if ticket.question_enc else None
    return TicketDetails(ticket, state.answers.get("name") or (latest.name if latest else None),
                         mask_nik(nik) if nik else None, nagari.name if nagari else "", ticket.step, latest, question)


async def close_ticket(svc: Services, session: AsyncSession, ticket: Ticket, by: str, now: datetime) -> bool:
    """Close it unless someone else just did (True: this call closed it)."""
    result = await session.execute(update(Ticket).where(Ticket.id == ticket.id, Ticket.status.in_(OPEN_STATES))
                                   .values(status="closed", closed_at=now, closed_by=by[:80], last_activity_at=now)
                                   .execution_options(synchronize_session=False))
    return bool(result.rowcount)


# ---------------------------------------------------------------------------------------------
# The officials' side

@dataclass
class OfficialsDesk:
    turn: Turn
    grants: list[Grant]

    @property
    def say(self) -> Say:
        return Say(self.turn.svc.catalog, self.turn.language)

    def answer(self, key: str, buttons: tuple[Button, ...] = (), **params: Any) -> None:
        self.turn.reply(self.say.reply(key, buttons, **params))

    async def run(self, command: TicketCommand) -> None:
        if command.name == "list":
            await self.list_open()
            return
        ticket = await self.ticket(command)
        if ticket is None:
            return
        if command.name == "take":
            await self.take(ticket)
        elif command.name == "reply":
            await self.reply(ticket, command.text)
        elif command.name == "close":
            await self.close(ticket, command.text)

    async def ticket(self, command: TicketCommand) -> Ticket | None:
        """The ticket a command names, if this official may handle it; else the one answer
        "not found" (the same whether it does not exist or belongs to another nagari)."""
        wanted = ticket_id_of(command.ticket)
        if wanted is None:
            self.answer(f"handover.usage.{command.name}")
            return None
        ticket = await self.turn.session.get(Ticket, wanted)
        if ticket is None or not may_handle(self.grants, ticket):
            self.answer("handover.not_found", code=f"T{wanted}")
            return None
        if ticket.status == "closed":
            self.answer("handover.closed_already", code=ticket.code, when=local(ticket.closed_at))
            return None
        return ticket

    async def names(self) -> dict[str, str]:
        return dict((await self.turn.session.execute(select(Nagari.code, Nagari.name))).all())

    async def holder_label(self, holder: str) -> str:
        return official_label(self.say, holder, await grants_of(self.turn.session, holder), await self.names())

    async def claim(self, ticket: Ticket) -> bool:
        """Take the ticket if nobody holds it (one UPDATE: of two officials at the same moment,
        one wins). True when this official holds it now."""
        turn = self.turn
        if ticket.holder == turn.who:
            return True
        if ticket.holder is not None:
            return False
        result = await turn.session.execute(
            update(Ticket).where(Ticket.id == ticket.id, Ticket.holder.is_(None), Ticket.status == "open")
            .values(holder=turn.who, status="taken", taken_at=turn.now).execution_options(synchronize_session=False))
        if not result.rowcount:
            await turn.session.refresh(ticket)
            return ticket.holder == turn.who
        await turn.session.refresh(ticket)
        await turn.repo.audit(turn.who, "ticket_taken", turn.now, ticket.code, ticket=ticket.id)
        worker_say = Say(turn.svc.catalog, ticket.lang)
        turn.reply(worker_say.reply("handover.worker.taken", code=ticket.code,
                                    official=official_label(worker_say, turn.who, self.grants, await self.names())),
                   to=ticket.channel_user)
        return True

    async def take(self, ticket: Ticket) -> None:
        was_mine = ticket.holder == self.turn.who
        if not await self.claim(ticket):
            self.answer("handover.held_by", code=ticket.code, official=await self.holder_label(ticket.holder or ""))
            return
        if was_mine:
            self.answer("handover.already_yours", code=ticket.code)
            return
        details = await details_of(self.turn.svc, self.turn.session, ticket)
        history = await self.history(ticket)
        self.answer("handover.taken", (Button(f"{BUTTON_PREFIX}close:{ticket.id}",
                                              self.say.t("handover.btn.close", code=ticket.code)),),
                    code=ticket.code, details=new_ticket_text(self.say, details), history=history)

    async def history(self, ticket: Ticket) -> str:
        """The worker's messages so far (newest last), for the official who takes the ticket."""
        rows = (await self.turn.session.execute(
            select(TicketMessage).where(TicketMessage.ticket_id == ticket.id).order_by(TicketMessage.id))).scalars().all()
        lines = []
        for message in rows[-10:]:
            who = self.say.t("handover.history.worker" if message.direction == "in" else "handover.history.official")
            written = self.turn.svc.cipher.decrypt(message.body_enc) if message.body_enc else None
            media = None if message.kind == "text" else self.say.t(
                f"handover.media.{message.kind}" if message.kind in MEDIA_WORDS else "handover.media.other")
            body = ": ".join(part for part in (media, written) if part)
            lines.append(f"{message.at.astimezone(LOCAL_TZ):%H.%M} {who}: {plain(short(body, 200))}")
        return "\n".join(lines) or self.say.t("handover.history.none")

    async def reply(self, ticket: Ticket, text: str) -> None:
        turn = self.turn
        svc = turn.svc
        if not text:
            self.answer("handover.usage.reply")
            return
        if contains_nik(text):
            self.answer("handover.nik_in_text")
            return
        if len(text) > svc.rules.conversation.max_input_chars:
            self.answer("input.too_long", max=svc.rules.conversation.max_input_chars)
            return
        if not await self.claim(ticket):
            self.answer("handover.held_by", code=ticket.code, official=await self.holder_label(ticket.holder or ""))
            return
        now = turn.now
        await add_message(turn.session, svc, ticket, turn.who, "out", "text", text, now)
        values: dict[str, Any] = {"last_activity_at": now}
        if ticket.answered_at is None:
            values["answered_at"] = now
        await turn.session.execute(update(Ticket).where(Ticket.id == ticket.id).values(**values)
                                   .execution_options(synchronize_session=False))
        await turn.repo.audit(turn.who, "ticket_answered", now, ticket.code, ticket=ticket.id, chars=len(text))
        worker_say = Say(svc.catalog, ticket.lang)
        label = official_label(worker_say, turn.who, self.grants, await self.names())
        turn.reply(worker_say.reply("handover.worker.answer", code=ticket.code, official=label, text=quoted(text)),
                   to=ticket.channel_user)
        self.answer(await self.delivery_note(ticket), code=ticket.code)

    async def delivery_note(self, ticket: Ticket) -> str:
        """What the official is told about the answer's way to the worker: WhatsApp lets a
        business write freely only within 24 hours of the person's last message; outside it the
        answer is announced by its approved template and follows the worker's tap, or (window
        policy "wait", or no approved template) waits for the worker to write."""
        svc = self.turn.svc
        if not ticket.channel_user.startswith("wa:"):
            return "handover.sent"
        last = (await self.turn.session.execute(select(Person.last_inbound_at).where(
            Person.channel_user == ticket.channel_user))).scalar_one_or_none()
        config = svc.config.whatsapp
        if last is not None and self.turn.now - last < timedelta(hours=config.window_hours):
            return "handover.sent"
        if reaches_outside_window(svc.senders, "handover.worker.answer", ticket.lang):
            return "handover.sent_template"
        return "handover.sent_waits"

    async def close(self, ticket: Ticket, note: str) -> None:
        turn = self.turn
        svc = turn.svc
        if ticket.holder not in (None, turn.who) and not any(g.role == "admin" for g in self.grants):
            self.answer("handover.held_by", code=ticket.code, official=await self.holder_label(ticket.holder or ""))
            return
        if not await close_ticket(svc, turn.session, ticket, turn.who, turn.now):
            self.answer("handover.closed_already", code=ticket.code, when=local(turn.now))
            return
        await turn.repo.audit(turn.who, "ticket_closed", turn.now, ticket.code, ticket=ticket.id, by="official")
        worker_say = Say(svc.catalog, ticket.lang)
        turn.reply(worker_say.reply("handover.worker.closed", code=ticket.code), to=ticket.channel_user)
        for reply in await resume_form(svc, turn.repo, ticket.channel_user, ticket.lang, turn.now):
            turn.reply(reply, to=ticket.channel_user)
        if ticket.holder and ticket.holder != turn.who:
            lang = (await langs_of(turn.session, [ticket.holder], svc.rules.default_language))[ticket.holder]
            turn.reply(Say(svc.catalog, lang).reply("handover.official.closed_by_other", code=ticket.code,
                                                     official=official_label(Say(svc.catalog, lang), turn.who,
                                                                             self.grants, await self.names())),
                       to=ticket.holder)
        self.answer("handover.closed", code=ticket.code)

    async def list_open(self) -> None:
        turn = self.turn
        say = self.say
        query = select(Ticket).where(Ticket.status.in_(OPEN_STATES)).order_by(Ticket.opened_at, Ticket.id)
        if not any(g.role == "admin" for g in self.grants):
            codes = sorted({g.nagari_code for g in self.grants if g.role == "operator" and g.nagari_code})
            query = query.where(Ticket.nagari_code.in_(codes))
        tickets = list((await turn.session.execute(query)).scalars().all())
        if not tickets:
            self.answer("handover.list.empty")
            return
        names = await self.names()
        lines = []
        for ticket in tickets[:MAX_LIST_LINES]:
            state = (say.t("handover.list.held", official=await self.holder_label(ticket.holder))
                     if ticket.holder else say.t("handover.list.waiting"))
            lines.append(say.t("handover.list.line", code=ticket.code,
                               nagari=names.get(ticket.nagari_code or "", say.t("handover.desk.regency_short")),
                               age=waited(turn.now, ticket.opened_at, say), state=state))
        if len(tickets) > MAX_LIST_LINES:
            lines.append(f"… (+{len(tickets) - MAX_LIST_LINES})")
        self.answer("handover.list", count=len(tickets), lines="\n".join(lines))


# ---------------------------------------------------------------------------------------------
# The scheduler: reminders, escalation, closing by silence

async def tickets_due(svc: Services, now: datetime) -> list[Any]:
    """Scheduler job (idempotent, safe in every process): each change is a conditional UPDATE
    that one process wins, and each message has a dedupe key."""
    rules = handover_rules(svc)
    async with svc.db.session() as session:
        tickets = list((await session.execute(select(Ticket).where(Ticket.status.in_(OPEN_STATES))
                                              .order_by(Ticket.id))).scalars().all())
        messages: list[NewMessage] = []
        repo = Repository(session, svc.cipher)
        for ticket in tickets:
            if now - ticket.last_activity_at >= timedelta(hours=rules.close_after_hours):
                messages.extend(await closed_by_silence(svc, session, repo, ticket, now))
            elif (ticket.holder is None and ticket.routed_to == "nagari" and ticket.escalated_at is None
                  and now - ticket.opened_at >= timedelta(minutes=rules.take_within_minutes)):
                messages.extend(await escalate(svc, session, ticket, now))
            elif (ticket.answered_at is None and ticket.reminded_at is None
                  and now - ticket.opened_at >= timedelta(hours=rules.remind_after_hours)):
                messages.extend(await remind(svc, session, ticket, now))
            if ticket.unpushed and ticket.status in OPEN_STATES:
                messages.extend(await push_waiting(svc, session, ticket, now))
        await enqueue(session, messages, now, delivery_rules(svc))
        await session.commit()
    return []


def notice(svc: Services, to: str, lang: str, key: str, dedupe: str, buttons: tuple[Button, ...] = (),
           **params: Any) -> NewMessage:
    return NewMessage(to, key, svc.catalog.text(lang, key, **params), "transactional", lang, f"{dedupe}:{to}",
                      Priority.NOTIFY, buttons=buttons)


async def closed_by_silence(svc: Services, session: AsyncSession, repo: Repository, ticket: Ticket,
                            now: datetime) -> list[NewMessage]:
    people = await recipients(session, ticket)
    if not await close_ticket(svc, session, ticket, "silence", now):
        return []
    await repo.audit("system", "ticket_closed", now, ticket.code, ticket=ticket.id, by="silence")
    hours = handover_rules(svc).close_after_hours
    out = [notice(svc, ticket.channel_user, ticket.lang, "handover.worker.closed_silence", f"ticket:{ticket.id}:silence",
                  code=ticket.code, hours=hours)]
    for index, reply in enumerate(await resume_form(svc, repo, ticket.channel_user, ticket.lang, now)):
        out.append(NewMessage(ticket.channel_user, reply.key, reply.text, "transactional", ticket.lang,
                              f"ticket:{ticket.id}:resume:{index}", Priority.NOTIFY, buttons=reply.buttons))
    for who, lang in (await langs_of(session, people, svc.rules.default_language)).items():
        out.append(notice(svc, who, lang, "handover.official.closed_silence", f"ticket:{ticket.id}:silence",
                          code=ticket.code, hours=hours))
    return out


async def escalate(svc: Services, session: AsyncSession, ticket: Ticket, now: datetime) -> list[NewMessage]:
    result = await session.execute(update(Ticket).where(Ticket.id == ticket.id, Ticket.escalated_at.is_(None),
                                                        Ticket.holder.is_(None), Ticket.status == "open")
                                   .values(escalated_at=now).execution_options(synchronize_session=False))
    if not result.rowcount:
        return []
    details = await details_of(svc, session, ticket)
    minutes = handover_rules(svc).take_within_minutes
    out = []
    for who, lang in (await langs_of(session, await admins(session), svc.rules.default_language)).items():
        say = Say(svc.catalog, lang)
        out.append(NewMessage(who, "handover.official.escalated", new_ticket_text(say, details, escalated=True)
                              + "\n" + say.t("handover.escalated_why", minutes=minutes),
                              "transactional", lang, f"ticket:{ticket.id}:escalated:{who}", Priority.NOTIFY,
                              buttons=ticket_buttons(say, ticket)))
    return out


async def remind(svc: Services, session: AsyncSession, ticket: Ticket, now: datetime) -> list[NewMessage]:
    result = await session.execute(update(Ticket).where(Ticket.id == ticket.id, Ticket.reminded_at.is_(None))
                                   .values(reminded_at=now).execution_options(synchronize_session=False))
    if not result.rowcount:
        return []
    out = []
    for who, lang in (await langs_of(session, await recipients(session, ticket), svc.rules.default_language)).items():
        say = Say(svc.catalog, lang)
        out.append(notice(svc, who, lang, "handover.official.reminder", f"ticket:{ticket.id}:reminder",
                          ticket_buttons(say, ticket) if ticket.holder is None else (), code=ticket.code,
                          age=waited(now, ticket.opened_at, say)))
    return out


# ---------------------------------------------------------------------------------------------
# Statistics (the admins' /statistik)

@dataclass(frozen=True)
class TicketStats:
    open: int
    waiting: int  # open and nobody took it yet
    closed: int
    first_answer_minutes: float | None  # median, over answered tickets
    per_nagari: list[tuple[str, int, int]]  # nagari name, tickets, open


async def ticket_stats(session: AsyncSession) -> TicketStats:
    names = dict((await session.execute(select(Nagari.code, Nagari.name))).all())
    counts = (await session.execute(select(Ticket.nagari_code, Ticket.status, func.count())
                                    .group_by(Ticket.nagari_code, Ticket.status))).all()
    answered = (await session.execute(select(Ticket.opened_at, Ticket.answered_at)
                                      .where(Ticket.answered_at.is_not(None)))).all()
    waits = [(answer - opened).total_seconds() / 60 for opened, answer in answered]
    per: dict[str | None, list[int]] = {}
    totals = {"open": 0, "taken": 0, "closed": 0}
    for code, status, count in counts:
        entry = per.setdefault(code, [0, 0])
        entry[0] += count
        if status in OPEN_STATES:
            entry[1] += count
        totals[status] = totals.get(status, 0) + count
    per_nagari = sorted(((names.get(code or "", "") or "-", total, open_) for code, (total, open_) in per.items()),
                        key=lambda row: (-row[1], row[0]))
    return TicketStats(open=totals["open"] + totals["taken"], waiting=totals["open"], closed=totals["closed"],
                       first_answer_minutes=statistics.median(waits) if waits else None, per_nagari=per_nagari)


def render_ticket_stats(say: Say, stats: TicketStats, regency_label: str) -> Reply:
    lines = "\n".join(say.t("handover.stats.line", nagari=name if name != "-" else regency_label,
                            count=number(total), open=number(open_)) for name, total, open_ in stats.per_nagari[:20])
    wait = (say.t("handover.stats.wait", minutes=number(round(stats.first_answer_minutes)))
            if stats.first_answer_minutes is not None else say.t("handover.stats.wait_none"))
    return say.reply("handover.stats", open=number(stats.open), waiting=number(stats.waiting),
                     closed=number(stats.closed), wait=wait, lines=lines or "-")
