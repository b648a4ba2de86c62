"""Use-case: after an accident or a death, the claim helper in the chat.

A route of handlers.router, after the officials' commands and before the tickets, the
after-submission answers and the registration (`route`). It answers:

- a message about an accident or a death, from anyone: a worker ("saya kecelakaan di kebun"),
  an heir ("laki ambo maningga", "anak saya mau beasiswa"), or an operator or admin writing for
  a family (an official's own chat is the desk: viewers are not asked), and "klaim"/"/klaim";
- the messages of a claim conversation in progress (preloaded with the turn: no query for
  anyone else), kept encrypted under "claim:<person>" at an idle step until it ends;
- the family's answer to "how was the payout used?" (buttons "cl:use:<case>:<use>").

It does not answer while the person's ticket is open (the officials hear them), or while they
are in the registration form (only an explicit "klaim" starts it there), or an official's ticket
commands and replies. The conversation is pure (conversations/claims.py); opening a case, the
report to the nagari's desk and the family's notices are handlers/claims_cases.py. A NIK typed to
find the worker is compared by its keyed hash, never stored or logged; the worker is shown
masked.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import update

from conversations import claims as talk
from conversations import registration as flow
from conversations.claims import (
    BUTTON_PREFIX,
    DIALOG_PREFIX,
    START_BUTTON,
    USES,
    CaseOpened,
    ClaimCtx,
    ClaimIntent,
    Dialog,
    FindWorker,
    OpenCase,
    WorkerFound,
)
from conversations.events import ButtonPress, Media, Reply, Text
from conversations.handover import is_ticket_command
from conversations.validators import mask_nik, normalize_text
from handlers.claims_cases import (
    USE_BUTTON,
    facts_params,
    find_registration,
    local_day,
    nagari_name,
    open_case,
)
from handlers.clock import LOCAL_TZ
from handlers.handover import resume_form
from handlers.officials.claims import list_open
from handlers.officials.desk import run as run_desk
from handlers.roles import Grant, allowed
from handlers.turn import Turn
from storage.claims import ClaimCase
from storage.crypto import who as pseudonym
from storage.models import Conversation

log = logging.getLogger(__name__)
# Typed alone, these start the helper anywhere, even in the middle of the registration form.
START_WORDS = frozenset({"klaim", "claim", "lapor klaim", "lapor kecelakaan", "lapor kematian"})
# The worker's rights still work inside a claim conversation (it waits meanwhile); their other
# commands end it.
PASSING_COMMANDS = frozenset({"delete", "mydata"})
# English words that say an unknown person writes English (the helper answers before any
# language question).
ENGLISH = frozenset({"my", "i", "the", "died", "passed", "away", "fell", "accident", "husband", "wife", "father",
                     "mother", "son", "daughter", "how", "what", "is", "was", "at", "work", "from", "hurt", "claim",
                     "injured", "school", "grant", "death"})


async def route(turn: Turn) -> bool:
    """The claim helper's messages; everything else passes on."""
    event = turn.event
    if turn.pre.ticket_open:
        return False
    if isinstance(event, ButtonPress):
        if event.button_id.startswith(USE_BUTTON):
            await usage_answer(turn, event.button_id)
            return True
        if event.button_id == START_BUTTON:
            return await begin(turn, ClaimIntent())
        if event.button_id.startswith(BUTTON_PREFIX) and turn.pre.claim is not None:
            return await carry_on(turn)
        return False
    if turn.pre.claim is not None:
        if isinstance(event, Text):
            text = event.text.strip()
            command = flow.command_of(text)
            if command is not None and command not in PASSING_COMMANDS and not talk.is_cancel(text):
                # Another of the worker's commands ("daftar", "status", "bahasa"): the claim
                # conversation ends, and the command is answered as always.
                await save(turn, None)
                return False
            if not text or command in PASSING_COMMANDS or is_ticket_command(event) or turn.state().confirm or \
                    (turn.pre.is_official and (text.startswith("/") or event.quoted)):
                return False  # (a yes/no of the registration, such as "delete my data?", is its own)
        elif not isinstance(event, Media):
            return False
        return await carry_on(turn)
    if not isinstance(event, Text) or is_ticket_command(event):
        return False
    text = event.text.strip()
    started = normalize_text(text.lstrip("/")) in START_WORDS
    if not text or (text.startswith("/") and not started) or (turn.pre.is_official and event.quoted):
        return False
    if len(text) > turn.svc.rules.conversation.max_input_chars:
        return False
    intent = talk.read_intent(text) or (ClaimIntent() if started else None)
    if intent is None:
        return False
    state = turn.state()
    if (state.in_form or state.confirm or state.correcting) and not started:
        return False  # an answer to the form's question, whatever words it holds
    if turn.pre.person_exists is False and turn.pre.lang is None and _english(text):
        turn.lang = "en"
    return await begin(turn, intent, text)


# An official's question about cases rather than a report of one.
ASKING = frozenset({"ada", "mana", "lihat", "cek", "daftar", "list", "show", "any", "berapa", "apakah"})


def _asks(text: str) -> bool:
    words = normalize_text(text).split()
    return text.strip().endswith("?") or bool(words and words[0] in ASKING)


def _english(text: str) -> bool:
    words = normalize_text(text).split()
    return sum(word in ENGLISH for word in words) * 2 > len(words)


async def _grants(turn: Turn) -> list[Grant]:
    return await turn.grants() if turn.pre.is_official else []


async def begin(turn: Turn, intent: ClaimIntent, text: str = "") -> bool:
    grants = await _grants(turn)
    official = bool(grants)
    if official and not allowed(grants, "decide"):
        return False  # a viewer's words go to the desk
    if official and (intent.info or _asks(text)):
        # "ada laporan kecelakaan?": an official asking about cases gets the list, not a report.
        await run_desk(turn, grants, list_open)
        return True
    ctx = await context(turn)
    registrations = [] if official else list(await turn.repo.registrations_of(turn.who))
    outcome = talk.start(intent, ctx, has_own=bool(registrations), official=official)
    await finish(turn, ctx, outcome, grants)
    return True


async def carry_on(turn: Turn) -> bool:
    grants = await _grants(turn)
    ctx = await context(turn)
    dialog = stored_dialog(turn)
    event = turn.event
    assert isinstance(event, (Text, ButtonPress, Media))
    outcome = talk.handle(dialog, event, ctx)
    await finish(turn, ctx, outcome, grants)
    return True


def stored_dialog(turn: Turn) -> Dialog:
    """The conversation in progress as preloaded; an unreadable one starts afresh."""
    try:
        return Dialog.from_json(json.loads(turn.svc.cipher.decrypt(turn.pre.claim or "")))
    except Exception:  # noqa: BLE001 - a damaged row (or a rotated key) must not stop the person
        log.warning("unreadable claim conversation of %s: started afresh", pseudonym(turn.who))
        return Dialog()


async def context(turn: Turn) -> ClaimCtx:
    svc = turn.svc
    today = turn.now.astimezone(LOCAL_TZ).date()
    lang = turn.language
    return ClaimCtx(catalog=svc.catalog, lang=lang, today=today, max_failures=svc.rules.conversation.max_failures,
                    max_chars=svc.rules.conversation.max_input_chars,
                    facts=facts_params(svc, svc.catalog, lang, today),
                    contact=svc.rules.help.for_nagari(turn.state().answers.get("nagari_code"), lang),
                    known_phone=turn.known_phone or _known_phone(turn.who))


def _known_phone(who: str) -> str | None:
    if who.startswith("wa:") and who[3:].isdigit() and who[3:].startswith("62"):
        return "+" + who[3:]
    return None


async def finish(turn: Turn, ctx: ClaimCtx, outcome: talk.Outcome, grants: list[Grant]) -> None:
    """Perform the conversation's effects (feeding their results back), store or end the
    conversation, and say what it said -- all in the turn's one transaction."""
    replies: list[Reply] = list(outcome.replies)
    dialog = outcome.dialog
    effects = list(outcome.effects)
    while effects and dialog is not None:
        effect = effects.pop(0)
        if isinstance(effect, FindWorker):
            result: WorkerFound | CaseOpened = await find_worker(turn, effect, grants)
        elif isinstance(effect, OpenCase):
            opened = await open_the_case(turn, effect.dialog, grants)
            if opened is None:
                replies.append(Reply("claims.gone", ctx.t("claims.gone", contact=ctx.contact)))
                dialog = None
                break
            result = opened
        else:
            break
        step = talk.handle(dialog, result, ctx)
        replies.extend(step.replies)
        dialog, effects = step.dialog, list(step.effects)
    await save(turn, dialog)
    turn.reply(*replies)
    state = turn.state()
    if dialog is None and (state.in_form or state.confirm or state.correcting):
        # "klaim" typed in the middle of the registration: it waited, and asks again.
        turn.reply(*await resume_form(turn.svc, turn.repo, turn.who, turn.language, turn.now))


async def find_worker(turn: Turn, effect: FindWorker, grants: list[Grant]) -> WorkerFound:
    """FindWorker: an official finds only registrations of nagari they may decide for; anyone
    else any registration (the masked NIK and the nagari are all they see of it)."""
    svc = turn.svc

    def visible(code: str) -> bool:
        return allowed(grants, "decide", code) if grants else True

    registration = await find_registration(svc, turn.repo, turn.who, effect.by, effect.value, visible)
    if registration is None:
        return WorkerFound(None)
    return WorkerFound(registration.id, mask_nik(svc.cipher.decrypt(registration.nik_enc)),
                       await nagari_name(turn.session, registration.nagari_code), registration.status)


async def open_the_case(turn: Turn, dialog: Dialog, grants: list[Grant]) -> CaseOpened | None:
    opened = await open_case(turn.svc, turn.session, dialog, turn.who, turn.language, bool(grants), turn.now)
    if opened is None:
        return None
    turn.out.extend(opened.told)
    case = opened.case
    log.info("claim case %s opened (%s) by %s", case.code, case.kind, pseudonym(turn.who))
    return CaseOpened(code=case.code, nagari=await nagari_name(turn.session, case.nagari_code),
                      deadline=local_day(opened.deadline) if opened.deadline else None,
                      status=opened.registration.status, notified=bool(opened.told) or bool(grants))


async def save(turn: Turn, dialog: Dialog | None) -> None:
    """The conversation's new state (encrypted, at an idle step), or none when it ended."""
    key = DIALOG_PREFIX + turn.who
    row = await turn.session.get(Conversation, key)
    if dialog is None:
        if row is not None:
            await turn.session.delete(row)
        return
    payload = turn.svc.cipher.encrypt(json.dumps(dialog.to_json(), ensure_ascii=False))
    if row is None:
        turn.session.add(Conversation(channel_user=key, step="idle", state=payload, updated_at=turn.now))
    else:
        row.step, row.state, row.updated_at = "idle", payload, turn.now


async def usage_answer(turn: Turn, button_id: str) -> None:
    """The family's optional answer about the payout: kept as one word, counted in the
    statistics, never shown one by one. Only the case's family may answer, once."""
    _, _, case_id, use = (button_id.split(":") + ["", "", "", ""])[:4]
    say_key = "claims.use.thanks"
    case = await turn.session.get(ClaimCase, int(case_id)) if case_id.isdigit() else None
    if case is None or case.family != turn.who or case.status != "paid":
        say_key = "claims.use.not_yours"
    elif use in USES:
        await turn.session.execute(update(ClaimCase).where(ClaimCase.id == case.id, ClaimCase.usage.is_(None))
                                   .values(usage=use).execution_options(synchronize_session=False))
    elif use != "skip":
        say_key = "claims.use.not_yours"
    turn.reply(turn.say(say_key))
