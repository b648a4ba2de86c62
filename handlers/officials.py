"""Use-cases of nagari officials: the queue, details, decisions within the quota,
corrections, exports, enrolment imports, statistics, invitations, assisted registration, history.

A route of handlers.router (`route`): it answers a message when the sender holds a grant and
typed or tapped an official command (or is in an assisted registration, or was asked to type a
reason), and when anyone sends `/kode` to take an invitation; otherwise it passes and the worker
flow answers. Every command checks the role and the nagari with handlers.roles; a refusal is the one
key `official.not_allowed`, whether or not the reference exists, and changes nothing.

Replies go to the official; notices about a decision go to the worker, in the worker's language
(Registration.lang), as Outgoing messages beside them (adapters deliver by `to`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import re
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from conversations import registration as flow
from conversations.events import Button, ButtonPress, Document, Inbound, Media, Reply, Text
from conversations.form import SUMMARY_LINES, Ctx
from conversations.handover import is_ticket_command
from conversations.state import IDLE_STEPS
from conversations.i18n import rupiah
from conversations.officials import (
    COMMAND_WORDS,
    FIX_FIELDS,
    FIX_GROUPS,
    GROUP_LABELS,
    REJECT_REASONS,
    FixRequest,
    Command,
    DetailView,
    HistoryLine,
    OfficialsRules,
    QueueItem,
    QuotaView,
    Say,
    assist_key,
    assisted_by,
    parse_button,
    parse_command,
    parse_fix,
    reason_of,
    reference_of,
    render_details,
    render_help,
    render_history_lines,
    render_queue,
    render_quota,
)
from conversations.reports import day as day_text
from conversations.reports import number
from conversations.reports import render_chart, render_funnel, render_operator, render_regency
from conversations.state import State
from conversations.validators import contains_nik, format_phone, mask_nik, normalize_text
from handlers import quota
from handlers.clock import LOCAL_TZ
from handlers.enrolment_import import ImportFileError, import_enrolments, save_report
from handlers.exports_bpjs import (
    STATUS_WORDS,
    Selection,
    export_audit,
    export_registrations,
    parse_statuses,
    purge_old_files,
)
from handlers.inbound import converse, known_phone_of
from handlers.handover import render_ticket_stats, ticket_stats, tickets_due
from handlers.programme import programme_due
from handlers.roles import Grant, allowed, grant, grants_of, scope
from handlers.delivery import Outgoing
from handlers.services import Services
from handlers.turn import Turn
from handlers.charts import draw_kecamatan, draw_quota_fill, draw_trend
from handlers.stats import chart_path, funnel, operator_view, regency_view
from storage.crypto import who as pseudonym
from storage.models import AuditEvent, Conversation, Nagari, Person, Registration
from storage.officials import ROLES, Invitation, Official
from storage.officials_extra import CorrectionRequest, DigestMark, NagariQuota, open_correction
from storage.repo import REFERENCE_ALPHABET, Repository
from storage.tickets import erase_for as erase_tickets

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
    WhatsApp the notice goes to their own number (outside the 24-hour window WhatsApp allows only
    an approved template: config.yaml whatsapp.templates.approval_notice); without WhatsApp the
    operator gets the text and is told to pass it on in person."""
    operator = assisted_by(registration.channel_user)
    if operator is None:
        return [Outgoing(registration.channel_user, reply)], ("official.notice.sent", {})
    phone = format_phone(registration.phone)
    if "wa" in svc.senders and registration.phone.startswith("+"):
        return [Outgoing("wa:" + registration.phone[1:], reply)], ("official.notice.whatsapp", {"phone": phone})
    return [Outgoing(operator, reply)], ("official.notice.in_person", {"phone": phone})


# ---------------------------------------------------------------------------------------------
# Entry point

async def route(turn: Turn) -> bool:
    """Answers an official's command (or an invitation code), an operator's assisted
    registration and an admin's uploaded file; everything else passes to the worker flow."""
    event = turn.event
    if isinstance(event, Document):
        return await on_document(turn, event)
    if is_ticket_command(event):
        return False  # the next route's (handlers/handover.py)
    command = command_of(event)
    if command is None:
        if isinstance(event, Text) and event.text.strip() and turn.pre.is_official:
            prompt = await desk_prompt_of(turn.session, turn.who)
            grants = await turn.grants()
            if prompt is not None and grants and prompt.get("action") in ("reject", "fix"):
                await run(turn, grants, lambda desk: complete_prompt(desk, prompt, event.text))
                return True
        return await continue_assist(turn)
    grants = await turn.grants()
    if not owned(command, event, grants):
        return False
    if command.name == "register_for" and allowed(grants, "register_for"):
        await start_assist(turn)
        return True
    handler = HANDLERS[command.name] if grants or command.name == "code" else refuse
    if grants and command.name not in ("rjpick", "fxf") and await desk_prompt_of(turn.session, turn.who) is not None:
        # Another command: the earlier "type the reason" prompt is over.
        await turn.session.execute(delete(Conversation).where(Conversation.channel_user == DESK_PREFIX + turn.who))
    if grants and not command.button and command.name in NEEDS_REFERENCE:
        await run(turn, grants, lambda desk: with_references(desk, command, handler))
        return True
    await run(turn, grants, lambda desk: handler(desk, command))
    return True


# Commands about one registration: without a reference they ask for one (the queue, with its
# buttons); those in SEVERAL take several references and answer for each.
NEEDS_REFERENCE = frozenset({"show", "approve", "reject", "fix", "history", "withdraw", "end", "undo"})
SEVERAL = frozenset({"show", "approve", "history", "undo"})
ALL_WORDS = frozenset({"semua", "semuanya", "all", "everything", "sadonyo"})


async def with_references(desk: Desk, command: Command, handler: Handler) -> None:
    """`/setujui` alone shows the queue to pick from; `/setujui REF1 REF2` approves each and
    reports each; `/setujui semua` lists what it would approve and asks for one tap."""
    if command.name == "approve" and command.args and normalize_text(command.args[0]) in ALL_WORDS:
        await approve_all(desk, command)
        return
    if not command.args:
        desk.answer("official.reference.missing", command=command_word(desk, command.name))
        await show_queue(desk, Command("queue"))
        return
    references = [reference_of(arg) for arg in command.args]
    leading = list(itertools.takewhile(lambda ref: ref is not None, references))
    if command.name in SEVERAL and len(leading) > 1:
        for reference in dict.fromkeys(leading):
            await handler(desk, Command(command.name, (str(reference),), str(reference), command.slash))
        return
    await handler(desk, command)


def command_word(desk: Desk, name: str) -> str:
    """The command's word in the official's language: "/setujui" or "/approve"."""
    words = COMMAND_WORDS[name]
    english = "discontinue" if name == "end" else name
    if desk.say.lang == "en" and english in words:
        return "/" + english
    return "/" + min(words - {english} or {english})


async def approve_all(desk: Desk, command: Command) -> None:
    """Every pending registration of the official's nagari, oldest first: listed with one
    button to confirm; the tap approves each in turn, under the quota (the rest go to the
    waiting list). The button carries the newest listed id: later arrivals are not included."""
    if not allowed(desk.grants, "decide"):
        desk.not_allowed()
        return
    codes = scope(desk.grants, "decide")
    where = [Registration.status == "pending"]
    if codes is not None:
        where.append(Registration.nagari_code.in_(sorted(codes)))
    if command.button and command.args and command.args[0].isdigit():
        where.append(Registration.id <= int(command.args[0]))
        rows = (await desk.session.execute(select(Registration.reference).where(*where)
                                           .order_by(Registration.created_at, Registration.id))).scalars().all()
        if not rows:
            desk.answer("official.approve_all.none")
            return
        for reference in rows:
            await approve(desk, Command("approve", (reference,), reference))
        return
    rows = (await desk.session.execute(select(Registration.id, Registration.reference, Registration.name)
                                       .where(*where).order_by(Registration.created_at, Registration.id)
                                       .limit(APPROVE_ALL_MAX))).all()
    if not rows:
        desk.answer("official.queue.empty")
        return
    newest = max(row_id for row_id, _, _ in rows)
    listing = "\n".join(f"{reference} · {name}" for _, reference, name in rows)
    desk.answer("official.approve_all.confirm",
                (Button(f"off:apall:{newest}", desk.say.t("official.approve_all.btn", count=len(rows))),
                 Button("off:dskno", desk.say.t("official.btn.never_mind"))),
                count=len(rows), listing=listing)


# At most this many registrations are approved with one tap (a long list is split in pages).
APPROVE_ALL_MAX = 50


def command_of(event: Inbound) -> Command | None:
    if isinstance(event, Text):
        return parse_command(event.text)
    if isinstance(event, ButtonPress):
        return parse_button(event.button_id)
    return None


def owned(command: Command, event: Inbound, grants: list[Grant]) -> bool:
    """Whether this route answers: a worker's own commands ("perbaiki data", "bantuan")
    stay with the worker flow; someone without a grant who typed "/setujui ..." or tapped an
    official's button is refused; `/kode` is for anyone."""
    if command.name == "code":
        return bool(command.args)
    if command.name == "help":
        return bool(grants)
    if isinstance(event, Text) and flow.command_of(event.text) is not None:
        return False
    return bool(grants) or command.slash or command.button


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


# ---------------------------------------------------------------------------------------------
# Reading: queue, details, history

async def show_queue(desk: Desk, command: Command) -> None:
    """Pending registrations of the official's nagari (all for admin and viewer), oldest first."""
    codes = scope(desk.grants, "view")
    page = int(command.args[0]) if command.args and command.args[0].isdigit() else 1
    size = desk.rules.queue_page_size
    where = [Registration.status == "pending"]
    if codes is not None:
        where.append(Registration.nagari_code.in_(sorted(codes)))
    total = int((await desk.session.execute(select(func.count()).select_from(Registration).where(*where))).scalar_one())
    pages = max(1, math.ceil(total / size))
    page = min(max(page, 1), pages)
    query = (select(Registration, Nagari.name).join(Nagari, Nagari.code == Registration.nagari_code).where(*where)
             .order_by(Registration.created_at, Registration.id).offset((page - 1) * size).limit(size))
    items = []
    for registration, nagari in (await desk.session.execute(query)).all():
        category = desk.svc.rules.category(registration.category)
        items.append(QueueItem(registration.reference, registration.name, nagari,
                               category.title(desk.say.lang) if category else registration.category,
                               desk.local(registration.created_at), tuple(registration.flags or ())))
    desk.out.extend(Outgoing(desk.who, reply) for reply in render_queue(desk.say, items, page, pages, total))


async def registration_for(desk: Desk, token: str | None, action: str) -> Registration | None:
    """The registration a command names, if the official may `action` it; else answers the one
    "not allowed" (the same whether or not the reference exists) and returns None."""
    reference = reference_of(token)
    if not allowed(desk.grants, action):
        # The role cannot do this anywhere: a plain "not allowed".
        desk.not_allowed()
        return None
    registration = await desk.repo.registration(reference) if reference else None
    if registration is None or not allowed(desk.grants, action, registration.nagari_code):
        # The same sentence whether the reference is mistyped, unknown or of another nagari.
        desk.answer("official.not_found", reference=reference or echo(token))
        return None
    return registration


def echo(token: str | None) -> str:
    """What an official typed, shown back in "not found": short, and never a NIK, in whole or in
    part (someone typing `/lihat 1303...` gets no digits of it back)."""
    text = (token or "-").strip()[:20]
    if sum(ch.isdigit() for ch in text) > 6:
        return mask_nik(text) if len(normalize_text(text).replace(" ", "")) == 16 else "*" * min(len(text), 12)
    return text.upper()[:12]


async def show_details(desk: Desk, command: Command) -> None:
    """All fields, NIK masked unless an operator of that nagari asks ("/lihat REF nik")."""
    registration = await registration_for(desk, command.args[0] if command.args else None, "view")
    if registration is None:
        return
    reveal = len(command.args) > 1 and command.args[1].lower() == "nik"
    if reveal and not allowed(desk.grants, "reveal_nik", registration.nagari_code):
        desk.not_allowed()
        return
    nik = desk.svc.cipher.decrypt(registration.nik_enc)
    if reveal:
        await desk.audit("nik_revealed", registration.reference)
    nagari = await desk.nagari(registration.nagari_code)
    category = desk.svc.rules.category(registration.category)
    work = category.title(desk.say.lang) if category else registration.category
    if registration.category_other:
        work = f"{work}: {registration.category_other}"
    heir = f"{registration.heir_name} ({registration.heir_relation})" if registration.heir_name else "-"
    decision = ""
    if registration.decided_at:
        decision = f"{desk.local(registration.decided_at)}, {registration.decided_by or '-'}"
        if registration.decision_reason:
            decision += f": {registration.decision_reason}"
    desk.out.append(Outgoing(desk.who, render_details(desk.say, DetailView(
        reference=registration.reference, status=registration.status, nik=nik if reveal else mask_nik(nik),
        revealed=reveal, name=registration.name, sex=registration.sex,
        birth_date=registration.birth_date.strftime("%d-%m-%Y"),
        birth_date_nik=registration.birth_date_nik.strftime("%d-%m-%Y"),
        nagari=nagari.name if nagari else registration.nagari_code, kecamatan=nagari.kecamatan if nagari else "-",
        jorong=registration.jorong, phone=format_phone(registration.phone), category=work,
        income=registration.income,
        contribution=desk.svc.rules.programme_contribution(desk.now.astimezone(LOCAL_TZ).date()).monthly, heir=heir,
        channel=registration.channel_user, submitted=desk.local(registration.created_at), decision=decision,
        kpj=registration.kpj or "", flags=tuple(registration.flags or ()),
        duplicates=await same_phone(desk, registration), history=tuple(await history_of(desk, registration.reference)),
        earlier=await earlier_of(desk, registration),
    ))))


async def earlier_of(desk: Desk, registration: Registration) -> tuple[tuple[str, str, str], ...]:
    """Earlier registrations of the same NIK (a rejected worker may register again): shown with
    their reason when the official may see that nagari, else only counted."""
    found = []
    for other in await desk.repo.earlier_registrations(registration):
        if allowed(desk.grants, "view", other.nagari_code):
            found.append((other.reference, other.status, other.decision_reason or ""))
        else:
            found.append(("-", other.status, ""))
    return tuple(found)


async def same_phone(desk: Desk, registration: Registration) -> tuple[str, ...]:
    """Duplicate suspicion: other registrations with this phone. References the official may not
    open are counted, not named."""
    rows = (await desk.session.execute(
        select(Registration.reference, Registration.nagari_code)
        .where(Registration.phone == registration.phone, Registration.id != registration.id).limit(10))).all()
    named = [ref for ref, code in rows if allowed(desk.grants, "view", code)]
    hidden = len(rows) - len(named)
    return tuple(named) + ((f"+{hidden}",) if hidden else ())


async def history_of(desk: Desk, reference: str) -> list[HistoryLine]:
    query = (select(AuditEvent).where(AuditEvent.reference == reference)
             .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(desk.rules.history_lines))
    events = list((await desk.session.execute(query)).scalars().all())[::-1]
    lines = []
    for event in events:
        details = event.details or {}
        note = details.get("reason") or ", ".join(str(f) for f in details.get("fields", []) or [])
        if details.get("position"):
            note = f"#{details['position']}"
        lines.append(HistoryLine(desk.local(event.at), event.actor, event.action, str(note or "")))
    return lines


async def show_history(desk: Desk, command: Command) -> None:
    """Who did what to one registration, and when (the audit trail)."""
    registration = await registration_for(desk, command.args[0] if command.args else None, "view")
    if registration is None:
        return
    lines = await history_of(desk, registration.reference)
    desk.answer("official.history", reference=registration.reference, lines=render_history_lines(desk.say, lines))


async def ask_decision(desk: Desk, command: Command) -> None:
    """The queue's "reject / correct" button: which of the two, as buttons; nobody retypes the
    reference on a phone."""
    registration = await registration_for(desk, command.args[0] if command.args else None, "decide")
    if registration is None:
        return
    ref = registration.reference
    desk.answer("official.ask.which", (Button(f"off:rjpick:{ref}", desk.say.t("official.btn.reject")),
                                       Button(f"off:fxpick:{ref}", desk.say.t("official.btn.fix")),
                                       Button(f"off:dskno:{ref}", desk.say.t("official.btn.never_mind"))),
                reference=ref)


# The official's pending desk prompt ("the next message is the reason for ..."), kept in the
# conversations table under "desk:<official>" at an idle step (never a draft to remind about).
DESK_PREFIX = "desk:"


async def set_desk_prompt(desk: Desk, prompt: dict[str, object] | None) -> None:
    key = DESK_PREFIX + desk.who
    await desk.repo.forget_state(key)
    if prompt is not None:
        desk.session.add(Conversation(channel_user=key, step="idle", state=json.dumps(prompt), updated_at=desk.now))


async def pick_reason(desk: Desk, command: Command) -> None:
    """Reject: common reasons as buttons, or the reason typed in the next message."""
    registration = await registration_for(desk, command.args[0] if command.args else None, "decide")
    if registration is None:
        return
    ref = registration.reference
    buttons = tuple(Button(f"off:rjr:{ref}:{n}", desk.say.t(f"official.reason.{n}")) for n in REJECT_REASONS)
    await set_desk_prompt(desk, {"action": "reject", "reference": ref})
    desk.answer("official.ask.reason", buttons, reference=ref)


async def reject_with_reason(desk: Desk, command: Command) -> None:
    if len(command.args) < 2 or not command.args[1].isdigit() or int(command.args[1]) not in REJECT_REASONS:
        desk.answer("official.usage.reject")
        return
    reason = desk.say.t(f"official.reason.{command.args[1]}")
    await set_desk_prompt(desk, None)
    await reject(desk, Command("reject", (command.args[0],), f"{command.args[0]} {reason}"))


async def pick_field(desk: Desk, command: Command) -> None:
    """Correction: one button per field, in the official's language."""
    registration = await registration_for(desk, command.args[0] if command.args else None, "decide")
    if registration is None:
        return
    ref = registration.reference
    buttons = tuple(Button(f"off:fxf:{ref}:{g}", desk.say.t(GROUP_LABELS[g])) for g in FIX_GROUPS)
    desk.answer("official.ask.field", buttons, reference=ref)


async def field_then_reason(desk: Desk, command: Command) -> None:
    registration = await registration_for(desk, command.args[0] if command.args else None, "decide")
    if registration is None:
        return
    if len(command.args) < 2 or not command.args[1].isdigit() or int(command.args[1]) not in FIX_GROUPS:
        desk.answer("official.usage.fix", fields=", ".join(sorted(FIX_FIELDS)))
        return
    group = int(command.args[1])
    await set_desk_prompt(desk, {"action": "fix", "reference": registration.reference, "group": group})
    desk.answer("official.ask.fix_reason", reference=registration.reference, field=desk.say.t(GROUP_LABELS[group]))


async def never_mind(desk: Desk, command: Command) -> None:
    await set_desk_prompt(desk, None)
    desk.answer("official.ask.dropped")


async def desk_prompt_of(session: AsyncSession, who: str) -> dict[str, object] | None:
    """The reason an official was asked to type in their next message, if any."""
    row = await session.get(Conversation, DESK_PREFIX + who)
    return json.loads(row.state) if row is not None else None


async def complete_prompt(desk: Desk, prompt: dict[str, object], text: str) -> None:
    """The official's next message after a desk prompt: the reason."""
    await set_desk_prompt(desk, None)
    reference, reason = str(prompt.get("reference")), " ".join(text.split())[:500]
    if prompt.get("action") == "reject":
        await reject(desk, Command("reject", (reference,), f"{reference} {reason}"))
        return
    registration = await registration_for(desk, reference, "decide")
    if registration is None:
        return
    group = int(str(prompt.get("group")))
    await apply_correction(desk, registration, FixRequest(reference, (group,), reason))


# ---------------------------------------------------------------------------------------------
# Deciding: approve, reject, ask for a correction (all under the nagari-year's quota lock)

async def locked(desk: Desk, registration: Registration) -> NagariQuota:
    """Take the nagari-year lock (the transaction's first write: see handlers/quota.py), then
    re-read the registration: another official may have decided it meanwhile."""
    row = await quota.lock(desk.session, registration.nagari_code, quota.budget_year(desk.now))
    await desk.session.refresh(registration)
    return row


async def approve(desk: Desk, command: Command) -> None:
    """Approves within the quota, or puts on the waiting list in order when it is full."""
    registration = await registration_for(desk, command.args[0] if command.args else None, "decide")
    if registration is None:
        return
    row = await locked(desk, registration)
    if registration.status not in ("pending", "correction"):
        desk.answer("official.decide.already", reference=registration.reference,
                    status=desk.say.status(registration.status))
        return
    await close_correction(desk, registration.reference)
    placement = await quota.place(desk.session, desk.rules.quota, row, registration, desk.who, desk.now)
    nagari = await desk.nagari_name(registration.nagari_code)
    if placement.status == "approved":
        await desk.audit("approved", registration.reference, year=row.year)
        undo = (Button(f"off:undo:{registration.reference}", desk.say.t("official.btn.undo")),) \
            if desk.rules.undo_minutes else ()
        desk.answer("official.approve.done", undo, reference=registration.reference,
                    nagari=await desk.nagari_label(registration.nagari_code), year=row.year,
                    used=await quota.used(desk.session, row.nagari_code, row.year),
                    limit=quota.limit_of(desk.rules.quota, row, row.nagari_code, row.year))
        tell_approved(desk, registration, nagari)
    else:
        await desk.audit("waitlisted", registration.reference, year=row.year, position=placement.position)
        desk.answer("official.approve.waiting", reference=registration.reference, position=placement.position,
                    nagari=nagari)
        desk.tell_worker(registration, "official.worker.waiting", position=placement.position, nagari=nagari)


def tell_approved(desk: Desk, registration: Registration, nagari: str) -> None:
    amount = desk.svc.rules.programme_contribution(desk.now.astimezone(LOCAL_TZ).date()).monthly
    desk.tell_worker(registration, "official.worker.approved", nagari=nagari, contribution=rupiah(amount))


async def promote(desk: Desk, row: NagariQuota) -> list[str]:
    """A freed slot goes to the next on the waiting list, who is told at once; their references."""
    nagari = await desk.nagari_name(row.nagari_code)
    promoted = []
    for registration in await quota.promote(desk.session, desk.rules.quota, row, desk.now):
        registration.decided_by = desk.who
        await desk.audit("promoted", registration.reference, year=row.year)
        tell_approved(desk, registration, nagari)
        promoted.append(registration.reference)
    return promoted


async def reject(desk: Desk, command: Command) -> None:
    """Rejects with a reason; an approved one's slot goes to the waiting list's first."""
    registration = await registration_for(desk, command.args[0] if command.args else None, "decide")
    if registration is None:
        return
    reason = reason_of(command)
    if not reason:
        desk.answer("official.usage.reject")
        return
    if contains_nik(reason):  # the reason is stored and sent as typed: never with a NIK in it
        desk.answer("official.reason.nik")
        return
    row = await locked(desk, registration)
    if registration.status not in ("pending", "correction", "waiting", "approved"):
        desk.answer("official.decide.already", reference=registration.reference,
                    status=desk.say.status(registration.status))
        return
    freed = registration.status == "approved"
    registration.status, registration.decision_reason = "rejected", reason[:500]
    registration.decided_at, registration.decided_by, registration.updated_at = desk.now, desk.who, desk.now
    await close_correction(desk, registration.reference)
    await desk.audit("rejected", registration.reference, reason=reason[:500])
    desk.answer("official.reject.done", reference=registration.reference)
    desk.tell_worker(registration, "official.worker.rejected", reason=reason,
                     contact=desk.svc.rules.help.for_nagari(registration.nagari_code))
    if freed:
        await promote(desk, row)


async def undo_approval(desk: Desk, command: Command) -> None:
    """`/urungkan REF` (or the button under "Disetujui"): within `undo_minutes`, the official
    who approved (or an admin) puts the registration back in the queue."""
    registration = await registration_for(desk, command.args[0] if command.args else None, "decide")
    if registration is None:
        return
    row = await locked(desk, registration)
    window = timedelta(minutes=desk.rules.undo_minutes)
    mine = registration.decided_by == desk.who or allowed(desk.grants, "set_quota")
    if (registration.status != "approved" or registration.decided_at is None or not mine
            or desk.now - registration.decided_at > window):
        desk.answer("official.undo.too_late", reference=registration.reference, minutes=desk.rules.undo_minutes,
                    status=desk.say.status(registration.status))
        return
    registration.status, registration.decided_at, registration.decided_by = "pending", None, None
    registration.updated_at = desk.now
    await desk.audit("approval_undone", registration.reference, year=row.year)
    desk.answer("official.undo.done", reference=registration.reference, year=row.year,
                used=await quota.used(desk.session, row.nagari_code, row.year),
                limit=quota.limit_of(desk.rules.quota, row, row.nagari_code, row.year))
    desk.tell_worker(registration, "official.worker.approval_undone",
                     nagari=await desk.nagari_name(registration.nagari_code))
    await promote(desk, row)


async def withdraw(desk: Desk, command: Command) -> None:
    """`/tarik REF alasan`: the enrolment was withdrawn at BPJS. A participant who asked to
    delete their data (UU 27/2022) is erased now, keeping only the record that it happened; any
    other participant is marked withdrawn. Either way the slot is freed and the waiting list's
    first is approved."""
    registration = await registration_for(desk, command.args[0] if command.args else None, "decide")
    if registration is None:
        return
    reason = reason_of(command)
    if not reason:
        desk.answer("official.usage.withdraw")
        return
    row = await locked(desk, registration)
    if registration.status not in ("deletion_requested", "approved", "enrolled"):
        desk.answer("official.withdraw.not_participant", reference=registration.reference,
                    status=desk.say.status(registration.status))
        return
    reference, erase = registration.reference, registration.status == "deletion_requested"
    await close_correction(desk, reference)
    if erase:
        # The notice is addressed before the row (and the worker's language) is gone.
        desk.tell_worker(registration, "official.worker.withdrawn_erased")
        await desk.repo.delete_registrations([registration])
        await erase_tickets(desk.session, registration.channel_user)
        await desk.audit("withdrawn", reference, reason=reason[:500], erased=True, nagari=row.nagari_code)
    else:
        registration.status, registration.decision_reason = "withdrawn", reason[:500]
        registration.decided_at, registration.decided_by, registration.updated_at = desk.now, desk.who, desk.now
        await desk.audit("withdrawn", reference, reason=reason[:500], erased=False, nagari=row.nagari_code)
        desk.tell_worker(registration, "official.worker.withdrawn", reason=reason,
                         contact=desk.svc.rules.help.for_nagari(registration.nagari_code))
    promoted = await promote(desk, row)
    desk.answer("official.withdraw.done" if erase else "official.withdraw.done_kept", reference=reference,
                promoted=", ".join(promoted) or "-", year=row.year,
                used=await quota.used(desk.session, row.nagari_code, row.year),
                limit=quota.limit_of(desk.rules.quota, row, row.nagari_code, row.year))


async def end_participation(desk: Desk, command: Command) -> None:
    """`/akhiri REF alasan`: the participant does not continue into the next budget year. They
    stay covered (and counted) until 1 January, then leave the quota; whoever is not ended
    continues and counts in the new year's quota."""
    registration = await registration_for(desk, command.args[0] if command.args else None, "decide")
    if registration is None:
        return
    reason = reason_of(command)
    if not reason:
        desk.answer("official.usage.end")
        return
    await locked(desk, registration)
    if registration.status not in ("approved", "enrolled"):
        desk.answer("official.withdraw.not_participant", reference=registration.reference,
                    status=desk.say.status(registration.status))
        return
    year = quota.budget_year(desk.now)
    ends_at = quota.year_bounds(year + 1)[0]
    registration.ends_at, registration.decision_reason, registration.updated_at = ends_at, reason[:500], desk.now
    await desk.audit("continuation_ended", registration.reference, reason=reason[:500], year=year + 1)
    last_day = (ends_at - timedelta(days=1)).strftime("%d-%m-%Y")
    desk.answer("official.end.done", reference=registration.reference, last_day=last_day, year=year + 1)
    desk.tell_worker(registration, "official.worker.ending", last_day=last_day, reason=reason,
                     contact=desk.svc.rules.help.for_nagari(registration.nagari_code))


async def close_correction(desk: Desk, reference: str) -> None:
    request = await open_correction(desk.session, reference)
    if request is not None:
        request.closed_at = desk.now


async def ask_correction(desk: Desk, command: Command) -> None:
    """Asks the worker to correct named fields with a reason, and walks them through only
    those fields; the registration returns to the queue when they are done."""
    request = parse_fix(command)
    if request is None:
        if command.args and reference_of(command.args[0]) is None:
            desk.not_allowed()
        else:
            desk.answer("official.usage.fix", fields=", ".join(sorted(FIX_FIELDS)))
        return
    registration = await registration_for(desk, request.reference, "decide")
    if registration is None:
        return
    await apply_correction(desk, registration, request)


async def apply_correction(desk: Desk, registration: Registration, request: FixRequest) -> None:
    if contains_nik(request.reason):
        desk.answer("official.reason.nik")
        return
    await locked(desk, registration)
    if registration.status not in ("pending", "waiting", "correction"):
        desk.answer("official.decide.already", reference=registration.reference,
                    status=desk.say.status(registration.status))
        return
    await close_correction(desk, registration.reference)
    registration.status, registration.updated_at = "correction", desk.now
    desk.session.add(CorrectionRequest(reference=registration.reference, groups=list(request.groups), done=[],
                                       reason=request.reason[:500], requested_by=desk.who, requested_at=desk.now))
    labels = [GROUP_LABELS[g].removeprefix("summary.") for g in request.groups]
    await desk.audit("correction_requested", registration.reference, fields=labels, reason=request.reason[:500])
    desk.answer("official.fix.done", reference=registration.reference, fields=desk.say.fields(request.groups))
    worker = Say(desk.svc.catalog, registration.lang)
    desk.tell_worker(registration, "official.worker.correction", fields=worker.fields(request.groups),
                     reason=request.reason)
    await walk_worker(desk, registration, request.groups[0])


async def walk_worker(desk: Desk, registration: Registration, group: int) -> None:
    """Put the worker's conversation on the first field to correct, through the flow's own
    correction mode (as "ubah data" then the summary line number would), and send its question.
    A worker in the middle of another form keeps it: they can type "ubah data" later."""
    key = registration.channel_user
    state = await desk.repo.load_state(key)
    if state.in_form and state.answers and state.correcting != registration.reference:
        return
    line = next(i for i, (_, g) in enumerate(SUMMARY_LINES, start=1) if g == group)
    start = State(lang=registration.lang, step="correct_pick", correcting=registration.reference,
                  answers=desk.repo.answers_of(registration), reference=state.reference or registration.reference)
    ctx = Ctx(rules=desk.svc.rules, catalog=desk.svc.catalog, wilayah=desk.svc.wilayah,
              now=desk.now.astimezone(LOCAL_TZ), channel_user=key, known_phone=known_phone_of(key))
    outcome = flow.handle(start, Text(str(line)), ctx)
    await desk.repo.save_state(key, outcome.state, desk.now)
    to = assisted_by(key) or key
    desk.out.extend(Outgoing(to, reply) for reply in outcome.replies)


# ---------------------------------------------------------------------------------------------
# Quota

async def nagari_code_of(desk: Desk, text: str) -> str | None:
    """A nagari typed as a Kemendagri code or a name (any spelling the wilayah matcher knows;
    an exact name first). A name that is also a kecamatan's means the nagari, and the answer
    says so."""
    text = text.strip()
    if NAGARI_CODE.match(text):
        return text if await desk.nagari(text) else None
    nagari, shared = desk.svc.wilayah.nagari_argument(text)
    if nagari is not None and shared:
        desk.note("official.nagari.shared_name", nagari=nagari.name, code=nagari.code)
    return nagari.code if nagari else None


async def show_or_set_quota(desk: Desk, command: Command) -> None:
    """`/kuota [NAGARI]`: used, free and waiting; `/kuota NAGARI 120 [YEAR]` (admin) sets it."""
    words = list(command.args)
    numbers: list[int] = []
    while words and words[-1].isdigit():
        numbers.insert(0, int(words.pop()))
    codes = scope(desk.grants, "view")
    if words:
        code = await nagari_code_of(desk, " ".join(words))
        if code is None:
            desk.answer("official.quota.unknown_nagari")
            return
    elif codes is not None and len(codes) == 1:
        code = next(iter(codes))
    else:
        desk.answer("official.usage.quota")
        return
    year = numbers[1] if len(numbers) > 1 else quota.budget_year(desk.now)
    if numbers:
        if not allowed(desk.grants, "set_quota", code):
            desk.not_allowed()
            return
        if not 2000 <= year <= 2100:
            desk.answer("official.usage.quota")
            return
        row = await quota.lock(desk.session, code, year)
        row.limit_override, row.set_by, row.set_at = numbers[0], desk.who, desk.now
        await desk.session.flush()
        await desk.audit("quota_set", None, nagari=code, year=year, limit=numbers[0])
        if year == quota.budget_year(desk.now):
            await promote(desk, row)
    elif not allowed(desk.grants, "view", code):
        desk.not_allowed()
        return
    usage = await quota.usage(desk.session, desk.rules.quota, code, year)
    desk.send(render_quota(desk.say, QuotaView(
        nagari=await desk.nagari_label(code), year=year, limit=usage["limit"], used=usage["used"],
        waiting=usage["waiting"], carried=usage["carried"])))


# ---------------------------------------------------------------------------------------------
# Export, import, statistics

EXPORT_WORDS = {"csv", "xlsx", "audit", "semua", "all"}


async def export(desk: Desk, command: Command) -> None:
    """`/ekspor [csv] [NAGARI] [STATUS] [audit]`: the BPJS list of approved (and enrolled)
    registrations, or of another status (`menunggu`, `ditolak`, `semua_status`...), or the audit
    trail, as a file."""
    words = [w.lower() for w in command.args]
    status_words = [w for w in words if w in STATUS_WORDS]
    rest = " ".join(w for w in command.args if w.lower() not in EXPORT_WORDS and w.lower() not in STATUS_WORDS)
    if not allowed(desk.grants, "export"):
        desk.not_allowed()
        return
    codes = scope(desk.grants, "export")
    label = "semua" if codes is None else "-".join(sorted(codes))
    if rest:
        code = await nagari_code_of(desk, rest)
        if code is None:
            desk.answer("official.quota.unknown_nagari")
            return
        if not allowed(desk.grants, "export", code):
            desk.not_allowed()
            return
        codes, label = {code}, code
    if "audit" in words:
        path, count = await export_audit(desk.svc, desk.session, codes, label, desk.who, desk.now)
        key = "official.export.audit"
    else:
        statuses = parse_statuses(",".join(status_words)) if status_words else Selection().statuses
        selection = Selection(statuses=statuses, nagari_codes=frozenset(codes) if codes is not None else None)
        fmt = "csv" if "csv" in words else "xlsx"
        path, count = await export_registrations(desk.svc, desk.session, selection, label, fmt, desk.who, desk.now)
        key = "official.export.done"
        if selection.statuses != Selection().statuses:
            key = "report.export.done_status"
        desk.out.append(Outgoing(desk.who, Reply(key, desk.say.t(
            key, count=count, scope=label, status=selection.status_slug), document=str(path))))
        return
    desk.out.append(Outgoing(desk.who, Reply(key, desk.say.t(key, count=count, scope=label), document=str(path))))


async def import_command(desk: Desk, command: Command) -> None:
    """`/impor`: how to send the file; `/impor NAME`: a file placed in the import folder (for
    the terminal and the simulator, which cannot attach files)."""
    if not allowed(desk.grants, "import"):
        desk.not_allowed()
        return
    if not command.args:
        desk.answer("official.import.send_file")
        return
    # Only a bare file name inside the import folder: never a path chosen from chat.
    path = desk.svc.config.resolve(desk.rules.import_dir) / Path(command.args[0]).name
    if not path.is_file():
        desk.answer("official.import.no_file")
        return
    await apply_import(desk, path)


async def apply_import(desk: Desk, path: Path) -> None:
    try:
        report = await import_enrolments(desk.svc, desk.session, path, desk.who, desk.now)
    except ImportFileError as problem:
        desk.answer(problem.key)
        return
    for registration in report.enrolled:
        start = registration.coverage_start
        desk.tell_worker(registration, "official.worker.enrolled", kpj=registration.kpj or "-",
                         start=start.strftime("%d-%m-%Y") if isinstance(start, date) else "-")
    lines = [desk.say.t("official.import.problem", row=p.row, reference=p.reference,
                        reason=desk.say.t(f"official.import.reason.{p.reason}"))
             for p in report.problems[:MAX_PROBLEM_LINES]]
    if len(report.problems) > MAX_PROBLEM_LINES:
        lines.append(desk.say.t("official.import.more", count=len(report.problems) - MAX_PROBLEM_LINES))
    path = save_report(desk.svc, report, desk.say.t)
    counts = Counter(row.result for row in report.rows)
    reply = desk.say.reply("official.import.report", enrolled=len(report.enrolled), unchanged=report.unchanged,
                           rejected=len(report.problems), problems="\n".join(lines) or "-",
                           not_found=counts["not_found"], ambiguous=counts["ambiguous"], invalid=counts["invalid"])
    desk.send(dataclasses.replace(reply, document=str(path)))


async def on_document(turn: Turn, event: Document) -> bool:
    """A file from an admin is an enrolment import; from anyone else the worker flow answers
    it as any other attachment. The uploaded file is deleted either way: it holds personal data
    and its rows are now in the database (or were refused)."""
    try:
        grants = await turn.grants()
        if allowed(grants, "import"):
            await run(turn, grants, lambda desk: apply_import(desk, Path(event.path)))
        else:
            turn.reply(*await converse(turn, event=Media("document")))
        return True
    finally:
        Path(event.path).unlink(missing_ok=True)


STATS_CHARTS = {"kecamatan": "kecamatan", "tren": "trend", "trend": "trend", "minggu": "trend", "weekly": "trend",
                "semua": "all", "all": "all"}


async def show_stats(desk: Desk, command: Command) -> None:
    """An operator: the nagari's quota, backlog and week, with the trend chart. An admin or
    viewer: the regency with the quota-fill chart (one look answers "how are the nagari doing");
    `/statistik kecamatan`, `/statistik tren` or `/statistik semua` add the kecamatan and weekly
    trend charts. An admin also gets the registration funnel."""
    svc, say = desk.svc, desk.say
    codes = scope(desk.grants, "view")
    today = desk.now.astimezone(LOCAL_TZ).date()
    if codes is not None:
        for code in sorted(codes):
            view = await operator_view(svc, desk.session, code)
            chart = draw_trend(say, view.trend, say.t("report.chart.trend.nagari", nagari=view.nagari),
                               say.t("report.chart.trend.quota", limit=number(view.limit)), today,
                               chart_path(svc, "trend"))
            desk.out.append(Outgoing(desk.who, render_operator(say, view, str(chart))))
        return
    asked = {STATS_CHARTS[w.lower()] for w in command.args if w.lower() in STATS_CHARTS}
    extra = {"kecamatan", "trend"} if "all" in asked else asked
    view = await regency_view(svc, desk.session, None, with_trend="trend" in extra)
    fill = draw_quota_fill(say, view.nagari, view.year, day_text(today), chart_path(svc, "quota"))
    desk.out.append(Outgoing(desk.who, render_regency(say, view, str(fill))))
    if "kecamatan" in extra:
        kecamatan = draw_kecamatan(say, view.by_kecamatan, day_text(today), chart_path(svc, "kecamatan"))
        desk.out.append(Outgoing(desk.who, render_chart(say, "report.chart.kecamatan.caption", str(kecamatan))))
    if view.trend is not None:
        trend_chart = draw_trend(say, view.trend, svc.config.regency.name,
                                 say.t("report.chart.trend.places", places=number(view.places),
                                       nagari=number(len(view.nagari))), today, chart_path(svc, "trend"))
        desk.out.append(Outgoing(desk.who, render_chart(say, "report.chart.trend.caption", str(trend_chart))))
    if any(g.role == "admin" for g in desk.grants):
        desk.out.append(Outgoing(desk.who, render_funnel(say, await funnel(svc, desk.session))))
        desk.out.append(Outgoing(desk.who, render_ticket_stats(say, await ticket_stats(desk.session),
                                                               say.t("handover.desk.regency_short"))))


# ---------------------------------------------------------------------------------------------
# Officials: invitations, help

async def invite(desk: Desk, command: Command) -> None:
    """`/undang operator NAGARI` | `/undang viewer` | `/undang admin`: a one-time code;
    `/undang cabut KODE` revokes an unused one."""
    if not allowed(desk.grants, "invite"):
        desk.not_allowed()
        return
    word = command.args[0].lower() if command.args else ""
    if word in ("cabut", "revoke") and len(command.args) > 1:
        await revoke_invitation(desk, command.args[1].upper())
        return
    if word not in ROLES:
        desk.answer("official.usage.invite")
        return
    nagari_code = None
    if word == "operator":
        nagari_code = await nagari_code_of(desk, " ".join(command.args[1:])) if len(command.args) > 1 else None
        if nagari_code is None:
            desk.answer("official.usage.invite")
            return
    code = await unused_code(desk.session)
    expires = desk.now + timedelta(hours=desk.rules.invitation_expiry_hours)
    invitation = Invitation(code=code, role=word, nagari_code=nagari_code, created_by=desk.who,
                            created_at=desk.now, expires_at=expires)
    desk.session.add(invitation)
    await desk.session.flush()
    # The code itself is a credential: the trail names the invitation, not its code.
    await desk.audit("invitation_created", None, invitation=invitation.id, role=word, nagari=nagari_code)
    desk.answer("official.invite.created", code=code, role=word,
                nagari=await desk.nagari_label(nagari_code) if nagari_code else "-", expires=desk.local(expires))


async def unused_code(session: AsyncSession) -> str:
    while True:
        code = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(INVITATION_CODE_LENGTH))
        if (await session.execute(select(Invitation.id).where(Invitation.code == code))).first() is None:
            return code


async def revoke_invitation(desk: Desk, code: str) -> None:
    result = await desk.session.execute(
        update(Invitation).where(Invitation.code == code, Invitation.used_at.is_(None), Invitation.revoked_at.is_(None))
        .values(revoked_at=desk.now))
    if result.rowcount != 1:
        desk.answer("official.invite.unknown")
        return
    await desk.audit("invitation_revoked", None)
    desk.answer("official.invite.revoked")


async def take_invitation(desk: Desk, command: Command) -> None:
    """`/kode KODE`: anyone may try; an unknown, used, revoked or expired code gets the same
    answer. The conditional UPDATE lets only one of two simultaneous takers succeed.

    Guessing is limited: after `limits.invite_guesses_per_hour` wrong codes in the last hour the
    person is locked out until the oldest of them is an hour old (logged when it starts). A code
    whose maker can no longer invite (removed since) is as invalid as an unknown one."""
    code = command.args[0].upper()
    limit = desk.svc.config.limits.invite_guesses_per_hour
    since = desk.now - timedelta(hours=1)
    wrong = (await desk.session.execute(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.actor == desk.who, AuditEvent.action == "invitation_guess_failed", AuditEvent.at > since))).scalar_one()
    if wrong >= limit:
        desk.answer("official.code.locked")
        return
    invitation = (await desk.session.execute(select(Invitation).where(Invitation.code == code))).scalar_one_or_none()
    if invitation is not None and ":" in invitation.created_by and not allowed(
            await grants_of(desk.session, invitation.created_by), "invite"):
        invitation = None  # its maker was removed: the code went with them
    if invitation is None or invitation.expires_at <= desk.now:
        await invitation_guess_failed(desk, wrong + 1, limit)
        return
    result = await desk.session.execute(
        update(Invitation).where(Invitation.id == invitation.id, Invitation.used_at.is_(None),
                                 Invitation.revoked_at.is_(None)).values(used_by=desk.who, used_at=desk.now))
    if result.rowcount != 1:
        await invitation_guess_failed(desk, wrong + 1, limit)
        return
    await grant(desk.session, desk.who, invitation.role, invitation.nagari_code, invitation.created_by, desk.now)
    desk.roles_changed = True
    await desk.audit("official_added", None, role=invitation.role, nagari=invitation.nagari_code,
                     invited_by=invitation.created_by)
    nagari = await desk.nagari_label(invitation.nagari_code) if invitation.nagari_code else "-"
    desk.answer("official.code.ok", role=invitation.role, nagari=nagari)
    desk.grants = await grants_of(desk.session, desk.who)
    await show_help(desk, command)


async def invitation_guess_failed(desk: Desk, count: int, limit: int) -> None:
    """A wrong code: counted (the audit trail, shared by every process), answered; the guess
    that reaches the limit starts a lock-out, logged once."""
    await desk.audit("invitation_guess_failed", None)
    if count >= limit:
        log.warning("invitation codes: %s locked out for an hour after %d wrong codes", pseudonym(desk.who), count)
        desk.answer("official.code.locked")
        return
    desk.answer("official.code.invalid")


async def show_help(desk: Desk, command: Command) -> None:
    """`bantuan` for officials: the commands their roles may use."""
    desk.out.append(Outgoing(desk.who, render_help(desk.say, {g.role for g in desk.grants})))


# ---------------------------------------------------------------------------------------------
# Assisted registration

async def start_assist(turn: Turn) -> None:
    """`/daftarkan`: the operator walks the same registration flow for a worker, in a separate
    conversation ("assist:<operator>"); consent is recorded as given in person to the operator
    (handlers/inbound.py), and the registration's notices come back to the operator."""
    key, now = assist_key(turn.who), turn.now
    repo = turn.repo
    person = await repo.person(key, now, turn.language)
    # Campaigns and reminders never go to an assisted conversation's id.
    person.opted_out = True
    await repo.forget_state(key)
    await repo.audit(turn.who, "assist_started", now)
    turn.reply(Say(turn.svc.catalog, turn.language).reply("official.assist.start"))
    turn.reply(*await converse(turn, key, Text("daftar")))


async def continue_assist(turn: Turn) -> bool:
    """An official in an assisted registration: their messages answer its questions."""
    step = turn.pre.assist_step
    if step is None or step in IDLE_STEPS or not await turn.grants():
        return False
    key = assist_key(turn.who)
    if step == "summary":
        own = await other_nagari(turn, key)
        if own:
            turn.reply(Reply("official.assist.other_nagari",
                             turn.svc.catalog.text(turn.language, "official.assist.other_nagari", own=own)))
            return True
    replies = await converse(turn, key)
    out = [Outgoing(turn.who, reply) for reply in replies]
    if any(reply.key == "submit.done" for reply in replies):
        out = await tell_assisted_worker(turn, key, out)
    turn.out.extend(out)
    return True


async def other_nagari(turn: Turn, key: str) -> str:
    """At the summary, an operator sending a registration for a nagari that is not theirs:
    the name of their own nagari (admins may register for any nagari), else ""."""
    event = turn.event
    sending = (isinstance(event, ButtonPress) and event.button_id == "sum:send") or (
        isinstance(event, Text) and event.text.strip().lower() in ("kirim", "send"))
    if not sending:
        return ""
    grants = await turn.grants()
    state = await turn.repo.load_state(key)
    code = state.answers.get("nagari_code")
    if not code or allowed(grants, "register_for", code):
        return ""
    own = sorted(g.nagari_code for g in grants if g.role == "operator" and g.nagari_code)
    names = [(await turn.session.get(Nagari, c)) for c in own]
    return ", ".join(n.name for n in names if n) or "-"


async def tell_assisted_worker(turn: Turn, key: str, out: list[Outgoing]) -> list[Outgoing]:
    """A worker registered in person is told on their own phone that it was done."""
    svc, session = turn.svc, turn.session
    registration = (await session.execute(select(Registration).where(Registration.channel_user == key)
                                          .order_by(Registration.created_at.desc(), Registration.id.desc())
                                          .limit(1))).scalar_one_or_none()
    if registration is None:
        return out
    nagari = await session.get(Nagari, registration.nagari_code)
    say = Say(svc.catalog, registration.lang)
    notice = say.reply("official.worker.assisted_submitted", reference=registration.reference,
                       nagari=nagari.name if nagari else registration.nagari_code)
    sent, (note_key, params) = worker_notice(svc, registration, notice)
    note = svc.catalog.text(turn.language, note_key, **params)
    operator = out[-1].to
    # The operator's own copy of the text is only useful when they must pass it on in person.
    sent = [o for o in sent if o.to != operator]
    last = out[-1]
    out[-1] = Outgoing(last.to, dataclasses.replace(last.reply, text=f"{last.reply.text}\n{note}"))
    return [*out, *sent]


# ---------------------------------------------------------------------------------------------
# Digest of new registrations (a due job)

async def digest_job(svc: Services, now: datetime) -> list[tuple[str, Reply]]:
    """Tell each operator about pending registrations of their nagari that are new (or came
    back from a correction) since their last digest; at most one message per interval."""
    interval = timedelta(minutes=svc.config.officials.digest_interval_minutes)
    messages: list[tuple[str, Reply]] = []
    async with svc.db.session() as session:
        rows = (await session.execute(select(Official.channel_user, Official.nagari_code, Official.added_at)
                                      .where(Official.role == "operator", Official.revoked_at.is_(None)))).all()
        operators: dict[str, tuple[set[str], datetime]] = {}
        for who, code, added in rows:
            codes, since = operators.get(who, (set(), added))
            operators[who] = (codes | {code}, min(since, added))
        for who, (codes, added) in sorted(operators.items()):
            mark = await session.get(DigestMark, who)
            if mark is not None and mark.sent_at is not None and now - mark.sent_at < interval:
                continue
            since = mark.covered_until if mark else added
            rows = (await session.execute(
                select(Registration.reference, Registration.updated_at)
                .where(Registration.nagari_code.in_(sorted(codes)), Registration.status == "pending",
                       Registration.updated_at > since)
                .order_by(Registration.created_at))).all()
            if not rows:
                continue
            references = [reference for reference, _ in rows]
            covered = max(updated for _, updated in rows)
            say = Say(svc.catalog, await language_of(svc, session, who))
            shown = ", ".join(references[:5]) + (" …" if len(references) > 5 else "")
            messages.append((who, say.reply("official.digest", (Button("off:queue:1", say.t("official.btn.queue")),),
                                            count=len(references), references=shown)))
            if mark is None:
                session.add(DigestMark(channel_user=who, sent_at=now, covered_until=covered))
            else:
                mark.sent_at, mark.covered_until = now, covered
        await session.commit()
    return messages


DUE_JOBS = (digest_job, purge_old_files, programme_due, tickets_due)


def install(svc: Services) -> None:
    """Add the officials' due jobs (digest, old export files) to these services (idempotent)."""
    for job in DUE_JOBS:
        if job not in svc.due_jobs:
            svc.due_jobs.append(job)


HANDLERS: dict[str, Handler] = {
    "queue": show_queue,
    "show": show_details,
    "history": show_history,
    "ask": ask_decision,
    "approve": approve,
    "reject": reject,
    "fix": ask_correction,
    "quota": show_or_set_quota,
    "export": export,
    "import": import_command,
    "stats": show_stats,
    "invite": invite,
    "code": take_invitation,
    "help": show_help,
    "register_for": refuse,  # reached only without the right (see `intercept`)
    "withdraw": withdraw,
    "end": end_participation,
    "undo": undo_approval,
    "rjpick": pick_reason,
    "rjr": reject_with_reason,
    "fxpick": pick_field,
    "fxf": field_then_reason,
    "dskno": never_mind,
    "apall": approve_all,
}
