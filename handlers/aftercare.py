"""Use-case: a worker who already submitted writes again ("halo", "kapan saya dapat kartu?").

A route of handlers.router (after the officials'): when the sender holds no official role, is
not in the middle of a form or a yes/no question, typed something that is not a command, and
has a registration, it answers by the status of their latest registration
(conversations/aftercare.py). Everything else goes on to the registration flow as before.
"""

from __future__ import annotations

from datetime import timedelta

from conversations import aftercare
from conversations import registration as flow
from conversations.events import Text
from handlers import quota
from handlers.clock import LOCAL_TZ
from handlers.officials.commands import parse as parse_desk_command
from handlers.optout import START_WORDS, STOP_WORDS, word_of
from handlers.reminders import add_months, reminder_rules
from handlers.turn import Turn
from handlers.services import Services
from storage.models import Nagari, Registration
from storage.repo import Repository


def local_day(moment: object) -> str | None:
    if moment is None:
        return None
    if hasattr(moment, "astimezone"):
        return moment.astimezone(LOCAL_TZ).strftime("%d-%m-%Y")  # type: ignore[union-attr]
    return moment.strftime("%d-%m-%Y")  # type: ignore[attr-defined]


async def facts_of(svc: Services, repo: Repository, registration: Registration) -> aftercare.AfterFacts:
    session = repo.session
    nagari = await session.get(Nagari, registration.nagari_code)
    position = None
    if registration.status == "waiting":
        queue = await quota.waiting_list(session, registration.nagari_code)
        position = next((i for i, r in enumerate(queue, start=1) if r.id == registration.id), None)
    start = registration.coverage_start
    end = None
    if start is not None:
        end = add_months(start, reminder_rules(svc).funded_months) - timedelta(days=1)
    if registration.ends_at is not None:
        last = (registration.ends_at - timedelta(days=1)).astimezone(LOCAL_TZ).date()
        end = min(end, last) if end else last
    return aftercare.AfterFacts(
        reference=registration.reference, status=registration.status,
        nagari=nagari.name if nagari else registration.nagari_code,
        submitted=local_day(registration.created_at) or "-",
        contact=svc.rules.help.for_nagari(registration.nagari_code), bpjs_branch=svc.rules.help.bpjs_branch,
        decided=local_day(registration.decided_at), reason=registration.decision_reason, position=position,
        kpj=registration.kpj, coverage_start=local_day(start), coverage_end=local_day(end))


async def route(turn: Turn) -> bool:
    """Answers a registered worker's plain message (not in a form, not an official) by the
    status of their latest registration; everything else passes on."""
    svc, event = turn.svc, turn.event
    if not isinstance(event, Text) or turn.pre.is_official or not turn.pre.registered:
        return False
    text = event.text.strip()
    if not text or text.startswith("/") or flow.command_of(text) is not None or parse_desk_command(text) is not None:
        return False
    if word_of(event) in STOP_WORDS | START_WORDS:
        return False
    if len(text) > svc.rules.conversation.max_input_chars:
        return False
    state = turn.state()
    if state.in_form or state.confirm or state.correcting:
        return False
    registrations = list(await turn.repo.registrations_of(turn.who))
    if not registrations:
        return False
    latest = max(registrations, key=lambda r: (r.created_at, r.id or 0))
    lang = state.lang or latest.lang or svc.rules.default_language
    turn.reply(*aftercare.answer(svc.catalog, lang, await facts_of(svc, turn.repo, latest), aftercare.is_question(text)))
    return True
