"""Use-case: reminders, as rules from config.yaml, run by the scheduler (svc.due_jobs).

Each rule finds who is due *now* and enqueues into the outbox with a dedupe key
"rule:subject:occurrence": the job runs on every tick (and in every worker process) and each
reminder is still enqueued once. Sending obeys the outbox rules (handlers/outbox.py): opt-out,
quiet hours, and no reminder while the person is in the middle of a conversation.

Rules (defaults in ReminderRules):
- unfinished registration: after 24 h and again after 72 h of silence, then never;
- pending registrations: a daily digest to the nagari's operators at 08:00 WIB;
- coverage ending: 30 and 7 days before the end of the funded period (12 months after
  coverage_start, or after the enrolment decision when BPJS gave no start date);
- contribution: monthly, to each nagari's operators, the amount owed for its enrolled workers
  (three unpaid months end coverage: docs/domain.md).
A reminder missed by more than `late_window_hours` (e.g. the server was down) is not sent late.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, datetime, time as clock_time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.i18n import rupiah
from handlers.clock import LOCAL_TZ
from handlers.delivery import Priority
from conversations.state import IDLE_STEPS
from handlers.outbox import NewMessage, delivery_rules, enqueue
from handlers.roles import officials_of_nagari
from handlers.settings import ReminderRules  # noqa: F401  (re-exported)
from handlers.services import Services
from storage.models import Conversation, Nagari, Person, Registration
from storage.officials import Official


def reminder_rules(svc: Services) -> ReminderRules:
    return getattr(svc.config, "reminders", None) or ReminderRules()


def add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class Reminders:
    """The rules, evaluated at one moment inside one session."""

    def __init__(self, svc: Services, session: AsyncSession, now: datetime) -> None:
        self.svc, self.session, self.now = svc, session, now
        self.rules = reminder_rules(svc)
        self.local = now.astimezone(LOCAL_TZ)
        self.late = timedelta(hours=self.rules.late_window_hours)
        self.messages: list[NewMessage] = []

    def t(self, lang: str, key: str, **params: Any) -> str:
        return self.svc.catalog.text(lang, key, **params)

    def add(self, to: str, lang: str, key: str, dedupe: str, priority: Priority = Priority.BULK, **params: Any) -> None:
        self.messages.append(NewMessage(to, key, self.t(lang, key, **params), "reminder", lang, dedupe, priority))

    def in_morning_window(self) -> bool:
        start = datetime.combine(self.local.date(), self.rules.morning, tzinfo=LOCAL_TZ)
        return start <= self.local < start + self.late

    async def langs(self, users: Sequence[str]) -> dict[str, str]:
        rows = await self.session.execute(select(Person.channel_user, Person.lang).where(Person.channel_user.in_(users)))
        return dict(rows.all())

    async def unfinished(self) -> None:
        """Drafts silent for one of the thresholds (the latest passed one), once per silence."""
        thresholds = sorted(self.rules.unfinished_after_hours)
        oldest = self.now - timedelta(hours=thresholds[-1]) - self.late
        # Officials are never reminded as workers (their chat is the desk, handlers/desk_front.py).
        officials = select(Official.channel_user).where(Official.revoked_at.is_(None))
        rows = (await self.session.execute(select(Conversation.channel_user, Conversation.updated_at).where(
            Conversation.step.not_in(IDLE_STEPS), Conversation.updated_at > oldest,
            Conversation.updated_at <= self.now - timedelta(hours=thresholds[0]),
            Conversation.channel_user.not_in(officials)))).all()
        langs = await self.langs([user for user, _ in rows])
        for user, updated_at in rows:
            silent = self.now - updated_at
            hours = max(h for h in thresholds if silent >= timedelta(hours=h))
            if silent >= timedelta(hours=hours) + self.late:
                continue
            key = "reminder.unfinished.last" if hours == thresholds[-1] else "reminder.unfinished.first"
            self.add(user, langs.get(user, "id"), key, f"unfinished:{hours}:{user}:{int(updated_at.timestamp())}")

    async def pending_digest(self) -> None:
        """Each nagari with registrations waiting: its operators, once a day."""
        if not self.rules.pending_digest or not self.in_morning_window():
            return
        rows = (await self.session.execute(
            select(Registration.nagari_code, Nagari.name, func.count(), func.min(Registration.created_at))
            .join(Nagari, Nagari.code == Registration.nagari_code)
            .where(Registration.status.in_(self.rules.digest_statuses))
            .group_by(Registration.nagari_code, Nagari.name))).all()
        for code, name, count, oldest in rows:
            await self.to_operators(code, "reminder.pending_digest", f"digest:{code}:{self.local.date()}",
                                    nagari=name, count=count, oldest=oldest.astimezone(LOCAL_TZ).strftime("%d-%m-%Y"))

    async def to_operators(self, nagari_code: str, key: str, dedupe: str, **params: Any) -> None:
        operators = await officials_of_nagari(self.session, nagari_code)
        langs = await self.langs(operators)
        for operator in operators:
            self.add(operator, langs.get(operator, "id"), key, f"{dedupe}:{operator}", Priority.NOTIFY, **params)

    async def coverage_ending(self) -> None:
        """Enrolled workers whose funded period ends in one of the thresholds (the nearest)."""
        if not self.in_morning_window():
            return
        today, months, days = self.local.date(), self.rules.funded_months, sorted(self.rules.coverage_ending_days)
        # end = start + months, and today < end <= today + max(days): start lies in this range.
        first, last = add_months(today, -months) - timedelta(days=1), add_months(today + timedelta(days=days[-1]), -months)
        since = datetime.combine(first, clock_time(0), tzinfo=LOCAL_TZ) - timedelta(days=1)
        rows = (await self.session.execute(
            select(Registration.reference, Registration.channel_user, Registration.lang, Registration.kpj,
                   Registration.coverage_start, Registration.decided_at)
            .where(Registration.status == "enrolled",
                   or_(Registration.coverage_start.between(first, last),
                       Registration.coverage_start.is_(None) & (Registration.decided_at >= since))))).all()
        for reference, user, lang, kpj, start, decided in rows:
            begin = start or (decided.astimezone(LOCAL_TZ).date() if decided else None)
            if begin is None:
                continue
            end = add_months(begin, months)
            left = (end - today).days
            due = [d for d in days if 0 < left <= d]
            if due:
                self.add(user, lang, "reminder.coverage_ending", f"coverage:{min(due)}:{reference}:{end}",
                         Priority.NOTIFY, end=end.strftime("%d-%m-%Y"), days=left, kpj=kpj or reference)

    async def contribution(self) -> None:
        """On `contribution_day` each month: each nagari's operators, the amount for its enrolled."""
        if self.local.day != self.rules.contribution_day or not self.in_morning_window():
            return
        rows = (await self.session.execute(
            select(Registration.nagari_code, Nagari.name, func.count())
            .join(Nagari, Nagari.code == Registration.nagari_code)
            .where(Registration.status == "enrolled")
            .group_by(Registration.nagari_code, Nagari.name))).all()
        month = self.local.strftime("%m-%Y")
        # The programme's fixed amount per funded worker this month, never their declared income.
        each = self.svc.rules.programme_contribution(self.local.date()).monthly
        for code, name, count in rows:
            await self.to_operators(code, "reminder.contribution", f"contribution:{code}:{month}", nagari=name,
                                    count=count, amount=rupiah(each * int(count)), month=month,
                                    arrears=self.rules.arrears_months)


async def reminders_due(svc: Services, now: datetime) -> list[Any]:
    """Scheduler job: enqueue every reminder due at `now` (idempotent)."""
    async with svc.db.session() as session:
        reminders = Reminders(svc, session, now)
        await reminders.unfinished()
        await reminders.pending_digest()
        await reminders.coverage_ending()
        await reminders.contribution()
        await enqueue(session, reminders.messages, now, delivery_rules(svc))
        await session.commit()
    return []
