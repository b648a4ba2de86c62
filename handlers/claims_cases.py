"""Claim cases: opening one, the operator's report, the family's notices, reminders, statistics.

Shared by the claim conversation (handlers/claims.py) and the officials' `/kasus` command
(handlers/officials/claims.py); it imports neither, so each may import it. The facts every
message cites come from config.yaml `claims:` (handlers/settings.ClaimRules) through
`facts_params`, never from code.

Who is told what:
- the nagari's operators (the admins where the nagari has none) get the report at once, with
  what a report to BPJS needs (Permenaker 1/2025 art. 48A(2): membership or NIK number, the
  chronology with place and date, the notifier's name and phone) -- the NIK masked, as the desk
  shows it -- and, for a work accident, the 2 x 24-hour deadline;
- the family gets each change of status in their language (`family_notice`: keys
  "claims.family.<status>", through the outbox; on WhatsApp outside the 24-hour window the
  sender picks the template of that key);
- reminders (`claims_due`, a scheduler job with dedupe keys "claim:<id>:<rule>:<person>"):
  the report not yet made to BPJS, the documents, the yearly school grant, the claim right
  about to lapse.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.claims import (
    DIALOG_PREFIX,
    JKK_KINDS,
    OPEN_STATUSES,
    USES,
    BUTTON_PREFIX,
    ClaimStats,
    Dialog,
)
from conversations.events import Button, Reply
from conversations.i18n import Catalog, rupiah
from conversations.officials import Say, assisted_by
from conversations.relay import plain
from conversations.validators import format_phone, mask_nik
from handlers.clock import LOCAL_TZ
from handlers.delivery import Outgoing, Priority
from handlers.outbox import NewMessage, delivery_rules, enqueue
from handlers.roles import admins, officials_of_nagari
from handlers.services import Services
from handlers.settings import ClaimRules
from storage.claims import ClaimCase
from storage.models import Conversation, Nagari, Person, Registration
from storage.repo import Repository

log = logging.getLogger(__name__)
# The buttons of the family's "how was the payout used" question: "cl:use:<case id>:<use>".
USE_BUTTON = BUTTON_PREFIX + "use:"
CLOSED = ("paid", "refused", "closed")


def claim_rules(svc: Services) -> ClaimRules:
    return getattr(svc.config, "claims", None) or ClaimRules()


def local_day(moment: datetime | date | None) -> str:
    if moment is None:
        return "-"
    if isinstance(moment, datetime):
        moment = moment.astimezone(LOCAL_TZ).date()
    return moment.strftime("%d-%m-%Y")


def income_base(svc: Services, day: date) -> int:
    """The programme's income base (the lowest bracket, Rp 1 juta): what JKK amounts multiply."""
    return svc.rules.programme_contribution(day).income_base


def facts_params(svc: Services, catalog: Catalog, lang: str, day: date) -> dict[str, Any]:
    """The facts the claim messages cite, formatted for `lang` (config.yaml `claims:`)."""
    rules = claim_rules(svc)
    branch = rules.branch
    where = branch.name + (f", {branch.address}" if branch.address else "")
    hours = (catalog.text(lang, "claims.fact.hours", hours=branch.hours) if branch.hours
             else catalog.text(lang, "claims.fact.hours_unknown", call_centre=rules.call_centre))
    plkk = ", ".join(f"{p.name} ({p.place})" if p.place else p.name for p in rules.plkk if p.confirmed)
    benefits = rules.benefits
    return {
        "branch": branch.name,
        "branch_where": f"{where}. {hours}",
        "call_centre": rules.call_centre,
        "plkk": catalog.text(lang, "claims.fact.plkk", names=plkk) if plkk else catalog.text(lang, "claims.fact.plkk_none"),
        "hours": f"{rules.report_within_hours // 24} x 24" if rules.report_within_hours % 24 == 0
        else str(rules.report_within_hours),
        "years": rules.claim_years,
        "jkm_total": rupiah(benefits.jkm_total),
        "jkm_lump": rupiah(benefits.jkm_lump_sum),
        "jkm_periodic": rupiah(benefits.jkm_periodic),
        "jkm_funeral": rupiah(benefits.jkm_funeral),
        "jkk_death": rupiah(benefits.jkk_death(income_base(svc, day))),
        "multiple": benefits.jkk_death_income_multiple,
        "income": rupiah(income_base(svc, day)),
        "children": benefits.scholarship_children,
        "scholarship_years": benefits.scholarship_after_years,
        "arrears": svc.config.reminders.arrears_months,
    }


def deadline_of(svc: Services, event_date: date | None) -> date | None:
    """The last day of the report (2 x 24 hours from the event: the day is what is known)."""
    if event_date is None:
        return None
    return event_date + timedelta(days=math.ceil(claim_rules(svc).report_within_hours / 24))


async def langs_of(svc: Services, session: AsyncSession, people: Sequence[str]) -> dict[str, str]:
    if not people:
        return {}
    found = dict((await session.execute(select(Person.channel_user, Person.lang)
                                        .where(Person.channel_user.in_(list(people))))).all())
    return {who: found.get(who) or svc.rules.default_language for who in people}


async def desk_of(session: AsyncSession, nagari_code: str) -> list[str]:
    """Who answers for a nagari: its operators, else the admins (the regency desk)."""
    return await officials_of_nagari(session, nagari_code) or await admins(session)


def family_of(svc: Services, registration: Registration, reporter: str, by_official: bool) -> str | None:
    """Whose chat hears of the case: the family member who reported; for an official's report,
    the worker's own chat (their phone is often with the family now), or their WhatsApp number
    when they were registered in person; None: the operator tells them."""
    if not by_official:
        return reporter
    if assisted_by(registration.channel_user) is None and registration.channel_user != reporter:
        return registration.channel_user
    if "wa" in svc.senders and registration.phone.startswith("+"):
        return "wa:" + registration.phone[1:]
    return None


# ---------------------------------------------------------------------------------------------
# Looking up the worker (the conversation's FindWorker)

COVERED_FIRST = ("enrolled", "approved", "ended", "withdrawn", "deletion_requested")


def _best(registrations: Sequence[Registration]) -> Registration | None:
    """The registration a claim is most likely about: covered ones first, then the newest."""
    if not registrations:
        return None
    return min(registrations, key=lambda r: (COVERED_FIRST.index(r.status) if r.status in COVERED_FIRST else 9,
                                             -(r.created_at.timestamp()), -(r.id or 0)))


async def find_registration(svc: Services, repo: Repository, who: str, by: str, value: str,
                            visible: Callable[[str], bool]) -> Registration | None:
    """The worker's registration by the writer's own chat, a NIK (its keyed hash: never
    decrypted to search) or a reference; one the writer may not see is not found."""
    if by == "own":
        found = _best(list(await repo.registrations_of(who)))
    elif by == "nik":
        rows = (await repo.session.execute(select(Registration).where(
            Registration.nik_hash == svc.cipher.lookup_hash(value)))).scalars().all()
        found = _best([r for r in rows if visible(r.nagari_code)])
    elif by == "reference":
        found = await repo.registration(value)
    else:
        return None
    return found if found is not None and visible(found.nagari_code) else None


async def nagari_name(session: AsyncSession, code: str) -> str:
    nagari = await session.get(Nagari, code)
    return nagari.name if nagari else code


# ---------------------------------------------------------------------------------------------
# Opening a case

@dataclass(frozen=True)
class Opened:
    case: ClaimCase
    registration: Registration
    told: list[Outgoing]  # the report, to the nagari's desk
    deadline: date | None


async def open_case(svc: Services, session: AsyncSession, dialog: Dialog, who: str, lang: str,
                    by_official: bool, now: datetime) -> Opened | None:
    """Store the case and tell the nagari's desk at once; None when the registration is gone."""
    repo = Repository(session, svc.cipher)
    registration = await session.get(Registration, dialog.registration_id) if dialog.registration_id else None
    if registration is None or dialog.kind is None:
        return None
    cipher = svc.cipher

    def sealed(text: str | None) -> str | None:
        return cipher.encrypt(text) if text else None

    name = registration.name if dialog.own else dialog.name
    phone = registration.phone if dialog.own else dialog.phone
    try:
        event_date = date.fromisoformat(dialog.event_date) if dialog.event_date else None
    except ValueError:
        event_date = None
    case = ClaimCase(registration_id=registration.id or 0, reference=registration.reference,
                     nagari_code=registration.nagari_code, kind=dialog.kind, status="new", event_date=event_date,
                     place_enc=sealed(dialog.place), story_enc=sealed(dialog.story), notifier=who,
                     notifier_name_enc=sealed(name), notifier_phone_enc=sealed(phone), by_official=by_official,
                     family=family_of(svc, registration, who, by_official), lang=lang, opened_at=now,
                     updated_at=now)
    session.add(case)
    await session.flush()
    await repo.audit(who, "claim_opened", now, registration.reference, case=case.id, kind=case.kind,
                     reason=f"{case.code}: {case.kind}")
    deadline = deadline_of(svc, event_date) if case.kind in JKK_KINDS else None
    told = []
    for official, official_lang in (await langs_of(svc, session, await desk_of(session, case.nagari_code))).items():
        if official == who:
            continue  # the operator who reported it knows
        say = Say(svc.catalog, official_lang)
        report = await report_text(svc, session, say, case, registration)
        told.append(Outgoing(official, say.reply("claims.official.new", case_buttons(say, case), report=report)))
    return Opened(case, registration, told, deadline)


def case_buttons(say: Say, case: ClaimCase) -> tuple[Button, ...]:
    return (Button(f"off:case:{case.id}", say.t("btn.claim.show", code=case.code)),)


async def report_text(svc: Services, session: AsyncSession, say: Say, case: ClaimCase,
                      registration: Registration | None) -> str:
    """The case as the nagari's desk sees it: what a report to BPJS needs, the NIK masked."""
    cipher = svc.cipher

    def opened(token: str | None) -> str:
        return plain(cipher.decrypt(token)) if token else "-"

    phone = cipher.decrypt(case.notifier_phone_enc) if case.notifier_phone_enc else None
    deadline = deadline_of(svc, case.event_date) if case.kind in JKK_KINDS else None
    facts = facts_params(svc, say.catalog, say.lang, svc.clock.now().astimezone(LOCAL_TZ).date())
    return say.t(
        "claims.official.report", code=case.code, kind=say.t(f"claims.kind.{case.kind}"),
        status=say.t(f"claims.status.{case.status}"),
        name=plain(registration.name) if registration else "-",
        nik=mask_nik(cipher.decrypt(registration.nik_enc)) if registration else "-",
        kpj=(registration.kpj if registration else None) or "-", reference=case.reference,
        registration_status=say.status(registration.status) if registration else "-",
        nagari=f"{await nagari_name(session, case.nagari_code)} ({case.nagari_code})",
        date=local_day(case.event_date), place=opened(case.place_enc), story=opened(case.story_enc),
        notifier=opened(case.notifier_name_enc), phone=format_phone(phone) if phone else "-",
        by=say.t("claims.official.by_official") if case.by_official else say.t("claims.official.by_family"),
        opened=case.opened_at.astimezone(LOCAL_TZ).strftime("%d-%m-%Y %H:%M"),
        deadline="\n" + say.t("claims.official.deadline", deadline=local_day(deadline), hours=facts["hours"])
        if deadline and case.status == "new" else "",
        paid="\n" + say.t("claims.official.paid", amount=rupiah(case.amount_paid), day=local_day(case.paid_at))
        if case.amount_paid is not None else "",
        reason="\n" + say.t("claims.official.reason", reason=plain(case.reason)) if case.reason else "",
        **facts)


# ---------------------------------------------------------------------------------------------
# The family's notices

def family_notice(svc: Services, case: ClaimCase, key: str, buttons: tuple[Button, ...] = (),
                  **params: Any) -> Outgoing | None:
    """A notice about the case to the family, in their language; None when nobody can be told
    in a chat (the operator is told to pass it on)."""
    if not case.family:
        return None
    facts = facts_params(svc, svc.catalog, case.lang, svc.clock.now().astimezone(LOCAL_TZ).date())
    text = svc.catalog.text(case.lang, key, **{**facts, "code": case.code, **params})
    return Outgoing(case.family, Reply(key, text, buttons))


def usage_buttons(svc: Services, case: ClaimCase) -> tuple[Button, ...]:
    say = Say(svc.catalog, case.lang)
    return tuple(Button(f"{USE_BUTTON}{case.id}:{use}", say.t(f"btn.claim.use.{use}")) for use in (*USES, "skip"))


# ---------------------------------------------------------------------------------------------
# Reminders (a scheduler job)

async def claims_due(svc: Services, now: datetime) -> list[Any]:
    """Scheduler job, idempotent and safe in every process: each reminder has a dedupe key, each
    clean-up is a conditional statement."""
    rules = claim_rules(svc)
    today = now.astimezone(LOCAL_TZ).date()
    async with svc.db.session() as session:
        # Unfinished claim conversations do not linger (they may hold a chronology).
        await session.execute(delete(Conversation).where(
            Conversation.channel_user.startswith(DIALOG_PREFIX),
            Conversation.updated_at < now - timedelta(hours=rules.dialog_expiry_hours)))
        # A case that is over keeps what the statistics count, not the personal text.
        await session.execute(update(ClaimCase).where(
            ClaimCase.status.in_(CLOSED), ClaimCase.updated_at < now - timedelta(days=rules.keep_personal_days),
            or_(ClaimCase.place_enc.is_not(None), ClaimCase.story_enc.is_not(None),
                ClaimCase.notifier_name_enc.is_not(None), ClaimCase.notifier_phone_enc.is_not(None)))
            .values(place_enc=None, story_enc=None, notifier_name_enc=None, notifier_phone_enc=None)
            .execution_options(synchronize_session=False))
        cases = list((await session.execute(select(ClaimCase).where(
            or_(ClaimCase.status.in_(OPEN_STATUSES), and_(ClaimCase.status == "paid", ClaimCase.kind == "scholarship")))
            .order_by(ClaimCase.id))).scalars().all())
        messages: list[NewMessage] = []
        desks: dict[str, dict[str, str]] = {}
        for case in cases:
            due = _due_rules(svc, rules, case, now, today)
            if not due:
                continue
            if case.nagari_code not in desks:
                desks[case.nagari_code] = await langs_of(svc, session, await desk_of(session, case.nagari_code))
            nagari = await nagari_name(session, case.nagari_code)
            for rule, params in due:
                messages.extend(_reminders(svc, case, rule, params, desks[case.nagari_code], nagari))
        await enqueue(session, messages, now, delivery_rules(svc))
        await session.commit()
    return []


def _due_rules(svc: Services, rules: ClaimRules, case: ClaimCase, now: datetime,
               today: date) -> list[tuple[str, dict[str, Any]]]:
    """Which reminders this case is due for now, with their parameters ("rule" names the
    dedupe key's part: one each, or one a year for the school grant)."""
    due: list[tuple[str, dict[str, Any]]] = []
    age = now - case.opened_at
    if case.status == "paid":
        if case.kind == "scholarship" and case.paid_at is not None:
            paid = case.paid_at.astimezone(LOCAL_TZ).date()
            for year in (today.year - 1, today.year):
                try:
                    anniversary = paid.replace(year=year)
                except ValueError:  # paid on 29 February
                    anniversary = date(year, 3, 1)
                if year > paid.year and anniversary <= today < anniversary + timedelta(days=30):
                    due.append((f"scholarship:{year}", {}))
        return due
    deadline = deadline_of(svc, case.event_date) if case.kind in JKK_KINDS else None
    if (deadline is not None and case.status == "new" and age >= timedelta(hours=rules.report_remind_after_hours)
            and today <= deadline):
        due.append(("report", {"deadline": local_day(deadline)}))
    if case.status in ("new", "reported") and age >= timedelta(days=rules.documents_after_days):
        due.append(("documents", {}))
    if case.kind in JKK_KINDS and case.event_date is not None:
        try:
            lapse = case.event_date.replace(year=case.event_date.year + rules.claim_years)
        except ValueError:
            lapse = date(case.event_date.year + rules.claim_years, 3, 1)
        if lapse - timedelta(days=rules.limit_warning_days) <= today < lapse:
            due.append(("limit", {"lapse": local_day(lapse)}))
    return due


FAMILY_KEYS = {"report": "claims.family.report_due", "documents": "claims.family.documents_due",
               "limit": "claims.family.limit", "scholarship": "claims.family.scholarship_renewal"}
OFFICIAL_KEYS = {"report": "claims.official.report_due", "documents": "claims.official.documents_due",
                 "limit": "claims.official.limit"}


def _reminders(svc: Services, case: ClaimCase, rule: str, params: dict[str, Any], desk: dict[str, str],
               nagari: str) -> list[NewMessage]:
    kind = rule.split(":", 1)[0]
    out = []
    notice = family_notice(svc, case, FAMILY_KEYS[kind], kind=Say(svc.catalog, case.lang).t(
        f"claims.kind.{case.kind}"), documents=Say(svc.catalog, case.lang).t(f"claims.documents.{case.kind}"),
        nagari=nagari, **params)
    if notice is not None:
        out.append(NewMessage(notice.to, notice.reply.key, notice.reply.text, "transactional", case.lang,
                              f"claim:{case.id}:{rule}:{notice.to}", Priority.NOTIFY))
    key = OFFICIAL_KEYS.get(kind)
    for official, lang in (desk.items() if key else ()):
        say = Say(svc.catalog, lang)
        text = say.t(key, code=case.code, kind=say.t(f"claims.kind.{case.kind}"), nagari=nagari,
                     reference=case.reference, **params)
        out.append(NewMessage(official, key, text, "transactional", lang, f"claim:{case.id}:{rule}:{official}",
                              Priority.NOTIFY, buttons=case_buttons(say, case)))
    return out


# ---------------------------------------------------------------------------------------------
# Statistics and the export

async def claim_stats(session: AsyncSession, codes: set[str] | None) -> ClaimStats:
    """Cases by kind, status and nagari, what was paid, how long payment took, how the payouts
    were used (counts only). A few hundred cases a year: counted here, not in SQL."""
    query = select(ClaimCase.kind, ClaimCase.status, ClaimCase.nagari_code, ClaimCase.event_date,
                   ClaimCase.opened_at, ClaimCase.paid_at, ClaimCase.amount_paid, ClaimCase.usage)
    if codes is not None:
        query = query.where(ClaimCase.nagari_code.in_(sorted(codes)))
    rows = (await session.execute(query)).all()
    names = dict((await session.execute(select(Nagari.code, Nagari.name))).all())
    by_kind: dict[str, int] = {}
    by_status: dict[str, int] = {}
    per_nagari: dict[str, list[int]] = {}
    usage: dict[str, int] = {}
    days: list[float] = []
    paid = paid_total = 0
    for kind, status, code, event_date, opened_at, paid_at, amount, use in rows:
        by_kind[kind] = by_kind.get(kind, 0) + 1
        by_status[status] = by_status.get(status, 0) + 1
        entry = per_nagari.setdefault(code, [0, 0, 0])
        entry[0] += 1
        entry[1] += status in OPEN_STATUSES
        if status == "paid":
            entry[2] += 1
            paid += 1
            paid_total += amount or 0
            if paid_at is not None:
                start = event_date or opened_at.astimezone(LOCAL_TZ).date()
                days.append((paid_at.astimezone(LOCAL_TZ).date() - start).days)
        if use in USES:
            usage[use] = usage.get(use, 0) + 1
    by_nagari = sorted(((names.get(code, code), *counts) for code, counts in per_nagari.items()),
                       key=lambda row: (-row[1], row[0]))
    return ClaimStats(by_kind=by_kind, by_status=by_status, by_nagari=by_nagari, paid=paid, paid_total=paid_total,
                      median_days=statistics.median(days) if days else None, usage=usage)


EXPORT_HEADERS = ("KODE", "REFERENSI", "NAGARI", "KECAMATAN", "JENIS", "STATUS", "TGL KEJADIAN", "TGL LAPOR",
                  "TGL BAYAR", "HARI SAMPAI BAYAR", "JUMLAH DIBAYAR", "PENGGUNAAN")


async def export_rows(svc: Services, session: AsyncSession, codes: set[str] | None) -> list[list[Any]]:
    """One row per case, for the regency's file: no NIK, no name, no chronology."""
    say = Say(svc.catalog, "id")
    query = (select(ClaimCase, Nagari.name, Nagari.kecamatan).join(Nagari, Nagari.code == ClaimCase.nagari_code)
             .order_by(ClaimCase.opened_at, ClaimCase.id))
    if codes is not None:
        query = query.where(ClaimCase.nagari_code.in_(sorted(codes)))
    rows = []
    for case, name, kecamatan in (await session.execute(query)).all():
        opened = case.opened_at.astimezone(LOCAL_TZ).date()
        paid = case.paid_at.astimezone(LOCAL_TZ).date() if case.paid_at else None
        rows.append([case.code, case.reference, name, kecamatan, say.t(f"claims.kind.{case.kind}"),
                     say.t(f"claims.status.{case.status}"), case.event_date, opened, paid,
                     (paid - (case.event_date or opened)).days if paid else None, case.amount_paid,
                     say.t(f"claims.use.{case.usage}") if case.usage in USES else None])
    return rows
