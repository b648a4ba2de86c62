"""Use-case: the programme's own calendar, run by the scheduler (svc.due_jobs) on every tick.

- Budget-year roll-over: participants the nagari ended (`/akhiri`, `ends_at` = 1 January) leave
  the quota and become `ended`; freed places of the new year go to the waiting list's first.
- December continuation list: on `programme.continuation_day` of December each operator gets
  the participants who will continue into the next budget year, and may end some before then.
- Withdrawals: a deletion request of an approved or enrolled worker (UU 27/2022, answer within
  3 x 24 hours) is told to the nagari's operators at once, reminded after
  `withdrawal_operator_hours` (48) and escalated to the admins after `withdrawal_admin_hours` (72).
- Pending registrations: reminded to the nagari's operators once older than
  `pending_operator_days` (3), escalated to the admins after `pending_admin_days` (7): a message
  of its own to each admin, once per registration (`admin_escalation`).
- A nagari without an operator: the admins are told at its first submission and in every
  daily digest; the admins' daily digest lists the backlog per nagari.

Every message is a row in the outbox with a dedupe key "rule:subject:occurrence", so running the
job on every tick (and in every worker process) enqueues each message once; quiet hours defer.
The escalation is marked on the registration itself: an "escalated" event in its audit trail,
committed with the messages (see `admin_escalation`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.i18n import rupiah
from conversations.officials import assisted_by
from handlers import quota
from handlers.clock import LOCAL_TZ
from handlers.delivery import Priority
from handlers.outbox import NewMessage, delivery_rules, enqueue
from handlers.reminders import reminder_rules
from handlers.roles import admins, officials_of_nagari
from handlers.services import Services
from storage.models import AuditEvent, Nagari, Person, Registration
from storage.officials import Official
from storage.officials_extra import NagariQuota

# Lines of a continuation list or digest in one message (Telegram: 4096 characters).
MAX_LINES = 100


@dataclass
class Notices:
    """Messages of one tick, each in its recipient's language."""

    svc: Services
    session: AsyncSession
    now: datetime

    def __post_init__(self) -> None:
        self.messages: list[NewMessage] = []
        self._langs: dict[str, str] = {}

    async def lang(self, who: str) -> str:
        if who not in self._langs:
            found = (await self.session.execute(select(Person.lang).where(Person.channel_user == who))).scalar_one_or_none()
            self._langs[who] = found or self.svc.rules.default_language
        return self._langs[who]

    async def add(self, to: str, key: str, dedupe: str, lang: str | None = None, **params: Any) -> None:
        lang = lang or await self.lang(to)
        text = self.svc.catalog.text(lang, key, **params)
        self.messages.append(NewMessage(to, key, text, "transactional", lang, f"{dedupe}:{to}", Priority.NOTIFY))

    async def to_many(self, people: list[str], key: str, dedupe: str, **params: Any) -> None:
        for who in sorted(set(people)):
            await self.add(who, key, dedupe, **params)

    async def flush(self) -> None:
        await enqueue(self.session, self.messages, self.now, delivery_rules(self.svc))
        self.messages = []


def local_day(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%d-%m-%Y")


def in_morning_window(svc: Services, now: datetime) -> bool:
    rules = reminder_rules(svc)
    local = now.astimezone(LOCAL_TZ)
    start = datetime.combine(local.date(), rules.morning, tzinfo=LOCAL_TZ)
    return start <= local < start + timedelta(hours=rules.late_window_hours)


async def nagari_names(session: AsyncSession) -> dict[str, str]:
    return dict((await session.execute(select(Nagari.code, Nagari.name))).all())


async def staffed_nagari(session: AsyncSession) -> set[str]:
    rows = await session.execute(select(Official.nagari_code).where(
        Official.role == "operator", Official.revoked_at.is_(None), Official.nagari_code.is_not(None)))
    return set(rows.scalars().all())


# ---------------------------------------------------------------------------------------------
# Budget-year roll-over

async def roll_over(svc: Services, now: datetime) -> None:
    """Participants whose `ends_at` has come become `ended`; then each nagari with a waiting list
    fills the places free in the current budget year (each nagari under its own quota lock)."""
    year = quota.budget_year(now)
    async with svc.db.session() as session:
        ended = (await session.execute(select(Registration.reference).where(
            Registration.status.in_(quota.COUNTED), Registration.ends_at.is_not(None),
            Registration.ends_at <= now))).scalars().all()
        if ended:
            await session.execute(update(Registration).where(Registration.reference.in_(ended))
                                  .values(status="ended", updated_at=now))
            for reference in ended:
                session.add(AuditEvent(at=now, actor="system", action="ended", reference=reference,
                                       details={"year": year}))
            await session.commit()
        waiting = (await session.execute(select(Registration.nagari_code).where(
            Registration.status == "waiting").distinct())).scalars().all()
    for code in sorted(waiting):
        async with svc.db.session() as session:
            row = await quota.lock(session, code, year)
            promoted = await quota.promote(session, svc.config.officials.quota, row, now)
            if not promoted:
                await session.rollback()
                continue
            notices = Notices(svc, session, now)
            names = await nagari_names(session)
            amount = rupiah(svc.rules.programme_contribution(now.astimezone(LOCAL_TZ).date()).monthly)
            for registration in promoted:
                registration.decided_by = "system"
                session.add(AuditEvent(at=now, actor="system", action="promoted", reference=registration.reference,
                                       details={"year": year}))
                to = assisted_by(registration.channel_user) or registration.channel_user
                await notices.add(to, "official.worker.approved", f"promoted:{registration.reference}:{year}",
                                  lang=registration.lang, reference=registration.reference,
                                  nagari=names.get(code, code), contribution=amount)
            await notices.flush()
            await session.commit()


# ---------------------------------------------------------------------------------------------
# December continuation list

async def continuation_lists(svc: Services, notices: Notices) -> None:
    """In December, on the configured day: each operator, the participants who continue."""
    local = notices.now.astimezone(LOCAL_TZ)
    if local.month != 12 or local.day != svc.rules.programme.continuation_day or not in_morning_window(svc, notices.now):
        return
    next_year = local.year + 1
    rows = (await notices.session.execute(
        select(Registration.nagari_code, Registration.reference, Registration.name)
        .where(quota.covered_in(next_year)).order_by(Registration.nagari_code, Registration.decided_at,
                                                     Registration.id))).all()
    by_nagari: dict[str, list[tuple[str, str]]] = {}
    for code, reference, name in rows:
        by_nagari.setdefault(code, []).append((reference, name))
    names = await nagari_names(notices.session)
    for code, people in sorted(by_nagari.items()):
        row = await notices.session.get(NagariQuota, (code, next_year))
        limit = quota.limit_of(svc.config.officials.quota, row, code, next_year)
        lines = "\n".join(f"{i}. {reference} {name}" for i, (reference, name) in enumerate(people[:MAX_LINES], 1))
        if len(people) > MAX_LINES:
            lines += f"\n… (+{len(people) - MAX_LINES})"
        await notices.to_many(await officials_of_nagari(notices.session, code), "programme.continuation.list",
                              f"continuation:{code}:{next_year}", nagari=names.get(code, code), year=next_year,
                              count=len(people), limit=limit, lines=lines, last_day=f"31-12-{local.year}")


# ---------------------------------------------------------------------------------------------
# Withdrawals after a deletion request

async def withdrawals(svc: Services, notices: Notices) -> None:
    escalation = svc.rules.programme.escalation
    rows = (await notices.session.execute(
        select(Registration.reference, Registration.nagari_code, func.max(AuditEvent.at))
        .join(AuditEvent, (AuditEvent.reference == Registration.reference)
              & (AuditEvent.action == "deletion_requested"))
        .where(Registration.status == "deletion_requested")
        .group_by(Registration.reference, Registration.nagari_code))).all()
    names = await nagari_names(notices.session)
    admin_users = await admins(notices.session)
    for reference, code, asked in rows:
        age = notices.now - asked
        due = local_time(asked + timedelta(hours=escalation.withdrawal_admin_hours))
        params = {"reference": reference, "nagari": names.get(code, code), "asked": local_time(asked), "due": due}
        operators = await officials_of_nagari(notices.session, code)
        if age >= timedelta(hours=escalation.withdrawal_admin_hours):
            await notices.to_many(admin_users, "programme.withdrawal.overdue", f"withdrawal:admin:{reference}",
                                  hours=escalation.withdrawal_admin_hours, **params)
        if not operators:
            # Nobody in the nagari can withdraw it: the admins must, at once.
            await notices.to_many(admin_users, "programme.withdrawal.no_operator", f"withdrawal:new:{reference}",
                                  **params)
        elif age >= timedelta(hours=escalation.withdrawal_operator_hours):
            await notices.to_many(operators, "programme.withdrawal.reminder", f"withdrawal:reminder:{reference}",
                                  hours=escalation.withdrawal_operator_hours, **params)
        else:
            await notices.to_many(operators, "programme.withdrawal.new", f"withdrawal:new:{reference}", **params)


def local_time(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%d-%m-%Y %H:%M")


# ---------------------------------------------------------------------------------------------
# Pending registrations: operators after 3 days, admins after 7; nagari without an operator

async def pending_escalation(svc: Services, notices: Notices) -> None:
    escalation = svc.rules.programme.escalation
    names = await nagari_names(notices.session)
    staffed = await staffed_nagari(notices.session)
    admin_users = await admins(notices.session)
    # At the first submission of a nagari that has no operator: the admins, once per nagari.
    unstaffed = (await notices.session.execute(
        select(Registration.nagari_code, func.count()).where(Registration.status.in_(("pending", "correction")))
        .group_by(Registration.nagari_code))).all()
    for code, count in unstaffed:
        if code not in staffed:
            await notices.to_many(admin_users, "programme.no_operator.first", f"no_operator:{code}",
                                  nagari=names.get(code, code), count=count)
    if not in_morning_window(svc, notices.now):
        return
    today = notices.now.astimezone(LOCAL_TZ).date()
    late = notices.now - timedelta(days=escalation.pending_operator_days)
    rows = (await notices.session.execute(
        select(Registration.nagari_code, Registration.reference, Registration.created_at)
        .where(Registration.status == "pending", Registration.created_at <= late)
        .order_by(Registration.nagari_code, Registration.created_at))).all()
    by_nagari: dict[str, list[tuple[str, datetime]]] = {}
    for code, reference, created in rows:
        by_nagari.setdefault(code, []).append((reference, created))
    for code, items in sorted(by_nagari.items()):
        shown = ", ".join(reference for reference, _ in items[:10]) + (" …" if len(items) > 10 else "")
        await notices.to_many(await officials_of_nagari(notices.session, code), "programme.pending.late",
                              f"pending_late:{code}:{today}", nagari=names.get(code, code), count=len(items),
                              days=escalation.pending_operator_days, references=shown,
                              oldest=local_day(items[0][1]))
    await admin_escalation(svc, notices, names, staffed, admin_users)
    await admin_digest(svc, notices, names, staffed, admin_users)


async def admin_escalation(svc: Services, notices: Notices, names: dict[str, str], staffed: set[str],
                           admin_users: list[str]) -> None:
    """Registrations waiting for a decision longer than `pending_admin_days`: each admin gets a
    message of their own, in their language, listing each such registration once -- its nagari,
    reference, days pending and whether the nagari has an operator.

    Once per registration: escalating writes an "escalated" event in the registration's audit
    trail (`/riwayat` shows it), in the same transaction as the messages, and a registration
    with that event is not escalated again; so a morning's later ticks, tomorrow's run and a
    restart find nothing new, and the next message holds only the newly overdue. Each message's
    dedupe key is made of its references, so two processes running the same tick enqueue it
    once. The daily digest goes on counting the backlog (`admin_digest`)."""
    if not admin_users:
        return
    escalation = svc.rules.programme.escalation
    overdue_since = notices.now - timedelta(days=escalation.pending_admin_days)
    told = select(AuditEvent.id).where(AuditEvent.reference == Registration.reference,
                                       AuditEvent.action == "escalated")
    rows = (await notices.session.execute(
        select(Registration.reference, Registration.nagari_code, Registration.created_at)
        .where(Registration.status == "pending", Registration.created_at <= overdue_since, ~told.exists())
        .order_by(Registration.created_at, Registration.id))).all()
    if not rows:
        return
    items = sorted(((names.get(code, code), code, reference, (notices.now - created).days)
                    for reference, code, created in rows), key=lambda item: (item[0], -item[3], item[2]))
    for start in range(0, len(items), MAX_LINES):
        chunk = items[start:start + MAX_LINES]
        references = [reference for _, _, reference, _ in chunk]
        # The same registrations make the same key: a second process's copy is not enqueued.
        occurrence = hashlib.sha256(",".join(sorted(references)).encode()).hexdigest()[:20]
        for admin in sorted(set(admin_users)):
            lang = await notices.lang(admin)
            staffed_word = svc.catalog.text(lang, "programme.escalation.staffed")
            unstaffed_word = svc.catalog.text(lang, "programme.escalation.unstaffed")
            lines = "\n".join(
                svc.catalog.text(lang, "programme.escalation.line", nagari=nagari, reference=reference, days=days,
                                 operator=staffed_word if code in staffed else unstaffed_word)
                for nagari, code, reference, days in chunk)
            await notices.add(admin, "programme.escalation.admin", f"escalation:{occurrence}", lang=lang,
                              count=len(chunk), limit=escalation.pending_admin_days, lines=lines)
        for nagari, code, reference, days in chunk:
            notices.session.add(AuditEvent(at=notices.now, actor="system", action="escalated", reference=reference,
                                           details={"days": days, "admins": len(set(admin_users)),
                                                    "operator": code in staffed}))


async def admin_digest(svc: Services, notices: Notices, names: dict[str, str], staffed: set[str],
                       admin_users: list[str]) -> None:
    """Daily, to each admin: the backlog per nagari (waiting for a decision, the oldest, how many
    are past the admins' escalation time), and every nagari with registrations but no operator."""
    if not admin_users:
        return
    escalation = svc.rules.programme.escalation
    overdue_since = notices.now - timedelta(days=escalation.pending_admin_days)
    rows = (await notices.session.execute(
        select(Registration.nagari_code, func.count(), func.min(Registration.created_at),
               func.sum(case((Registration.created_at <= overdue_since, 1), else_=0)))
        .where(Registration.status.in_(("pending", "correction")))
        .group_by(Registration.nagari_code))).all()
    if not rows:
        return
    today = notices.now.astimezone(LOCAL_TZ).date()
    for lang_user in admin_users:
        lang = await notices.lang(lang_user)
        lines = []
        for code, count, oldest, overdue in sorted(rows, key=lambda r: (-(r[3] or 0), r[2])):
            days = (notices.now - oldest).days
            key = "programme.digest.line_overdue" if overdue else "programme.digest.line"
            line = svc.catalog.text(lang, key, nagari=names.get(code, code), count=count, days=days,
                                    overdue=int(overdue or 0), limit=escalation.pending_admin_days)
            if code not in staffed:
                line += " " + svc.catalog.text(lang, "programme.digest.no_operator")
            lines.append(line)
        total = sum(count for _, count, _, _ in rows)
        await notices.add(lang_user, "programme.digest.admin", f"admin_digest:{today}", lang=lang, total=total,
                          lines="\n".join(lines[:MAX_LINES]), nagari_count=len(rows),
                          unstaffed=sum(1 for code, *_ in rows if code not in staffed))


# ---------------------------------------------------------------------------------------------

async def programme_due(svc: Services, now: datetime) -> list[Any]:
    """Scheduler job: everything of the programme's calendar that is due at `now` (idempotent)."""
    await roll_over(svc, now)
    async with svc.db.session() as session:
        notices = Notices(svc, session, now)
        await continuation_lists(svc, notices)
        await withdrawals(svc, notices)
        await pending_escalation(svc, notices)
        await notices.flush()
        await session.commit()
    return []
