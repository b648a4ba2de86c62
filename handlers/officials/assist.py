"""An operator's assisted registration (a worker registered in person), and the digest of new
registrations (a due job)."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from conversations.events import Button, ButtonPress, Reply, Text
from conversations.state import IDLE_STEPS
from conversations.officials import (
    Say,
    assist_key,
)
from handlers.exports_bpjs import (
    purge_old_files,
)
from handlers.inbound import converse
from handlers.handover import tickets_due
from handlers.claims_cases import claims_due
from handlers.programme import programme_due
from handlers.roles import allowed
from handlers.delivery import Outgoing
from handlers.services import Services
from handlers.turn import Turn
from storage.models import Nagari, Registration
from storage.officials import Official
from storage.officials_extra import DigestMark

from handlers.officials.desk import language_of, worker_notice

log = logging.getLogger(__name__)


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


DUE_JOBS = (digest_job, purge_old_files, programme_due, tickets_due, claims_due)


def install(svc: Services) -> None:
    """Add the officials' due jobs (digest, old export files) to these services (idempotent)."""
    for job in DUE_JOBS:
        if job not in svc.due_jobs:
            svc.due_jobs.append(job)
