"""Deciding: approve (one, several, or all with one tap), reject, ask for a correction, undo,
withdraw and end -- all under the nagari-year's quota lock -- and the reason an official types
after a prompt."""

from __future__ import annotations

import itertools
import logging
from datetime import timedelta

from sqlalchemy import select

from conversations import registration as flow
from conversations.events import Button, Text
from conversations.form import SUMMARY_LINES, Ctx
from conversations.i18n import rupiah
from conversations.officials import (
    FIX_FIELDS,
    FIX_GROUPS,
    GROUP_LABELS,
    REJECT_REASONS,
    FixRequest,
    Command,
    Say,
    assisted_by,
    parse_fix,
    reason_of,
    reference_of,
)
from conversations.state import State
from conversations.validators import contains_nik, normalize_text
from handlers import quota
from handlers.clock import LOCAL_TZ
from handlers.inbound import known_phone_of
from handlers.roles import allowed, scope
from handlers.delivery import Outgoing
from storage.models import Registration
from storage.officials_extra import CorrectionRequest, NagariQuota, open_correction
from storage.tickets import erase_for as erase_tickets

from handlers.officials.desk import Desk, Handler, set_desk_prompt
from handlers.officials.reading import registration_for, show_queue

log = logging.getLogger(__name__)


ALL_WORDS = frozenset({"semua", "semuanya", "all", "everything", "sadonyo"})


async def with_references(desk: Desk, command: Command, handler: Handler, several: bool, word: str) -> None:
    """A command about registrations (the table's `reference`): `/setujui` alone shows the queue
    to pick from; with `several`, `/setujui REF1 REF2` approves each and reports each;
    `/setujui semua` lists what it would approve and asks for one tap. `word`: the command as
    the official would type it ("/setujui")."""
    if command.name == "approve" and command.args and normalize_text(command.args[0]) in ALL_WORDS:
        await approve_all(desk, command)
        return
    if not command.args:
        desk.answer("official.reference.missing", command=word)
        await show_queue(desk, Command("queue"))
        return
    references = [reference_of(arg) for arg in command.args]
    leading = list(itertools.takewhile(lambda ref: ref is not None, references))
    if several and len(leading) > 1:
        for reference in dict.fromkeys(leading):
            await handler(desk, Command(command.name, (str(reference),), str(reference), command.slash))
        return
    await handler(desk, command)


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
                    nagari=await desk.nagari_label(registration.nagari_code))
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
