"""Reading: the queue, a registration's details and its history."""

from __future__ import annotations

import logging
import math

from sqlalchemy import func, select

from conversations.events import Button
from conversations.officials import (
    Command,
    DetailView,
    HistoryLine,
    QueueItem,
    reference_of,
    render_details,
    render_history_lines,
    render_queue,
)
from conversations.validators import format_phone, mask_nik, normalize_text
from handlers.clock import LOCAL_TZ
from handlers.roles import allowed, scope
from handlers.delivery import Outgoing
from storage.models import AuditEvent, Nagari, Registration

from handlers.officials.desk import Desk

log = logging.getLogger(__name__)


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
        items.append(QueueItem(registration.reference, registration.name, f"{nagari} ({registration.nagari_code})",
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
