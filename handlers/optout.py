"""Use-case: "berhenti"/"stop" and "mulai"/"start" -- campaign and reminder subscription.

- `berhenti` / `stop` (also `/stop`): Person.opted_out = True; the bot confirms and says how to
  come back. Campaigns and reminders are skipped from then on (handlers/outbox.py); messages
  about the person's own registration (transactional) still go. A registration in progress is
  untouched: "batal" cancels it, as before.
- `mulai` / `start` (also `/start`, Telegram's first command): these also start the
  registration, so the route passes them on, except from an opted-out person: then it turns
  the subscription back on, puts a confirmation first and lets the registration flow answer,
  all in the one turn (both commit or neither).
"""

from __future__ import annotations

from conversations.events import Inbound, Text
from conversations.validators import normalize_text
from handlers.inbound import converse
from handlers.turn import Turn

STOP_WORDS = frozenset({"berhenti", "stop", "unsubscribe", "berhenti langganan"})
START_WORDS = frozenset({"mulai", "start"})


def word_of(event: Inbound) -> str | None:
    return normalize_text(event.text.lstrip("/")) if isinstance(event, Text) else None


async def route(turn: Turn) -> bool:
    """Answers "berhenti"/"stop"; re-subscribes an opted-out person who says "mulai"/"start"."""
    word = word_of(turn.event)
    if word in STOP_WORDS:
        await opt_out(turn)
        return True
    if word in START_WORDS and turn.pre.opted_out:
        if has_submitted(turn):
            await resubscribe_only(turn)
        else:
            await opt_back_in(turn)
        return True
    return False


def has_submitted(turn: Turn) -> bool:
    """Someone with a registration who is not in the middle of a form: for them "mulai" only
    means "messages on again", never a new form (which would make `status` say "unfinished")."""
    return turn.pre.registered and not turn.state().in_form


async def resubscribe_only(turn: Turn) -> None:
    person = await turn.person_row()
    person.opted_out = False
    await turn.repo.audit(turn.who, "opted_in", turn.now)
    turn.reply(turn.say("optout.resumed"))


async def opt_out(turn: Turn) -> None:
    """Stops campaigns and reminders for this person."""
    person = await turn.person_row()
    person.opted_out = True
    await turn.repo.audit(turn.who, "opted_out", turn.now)
    turn.reply(turn.say("optout.done"))


async def opt_back_in(turn: Turn) -> None:
    """Turns campaigns and reminders back on, then lets the registration flow answer "mulai"."""
    person = await turn.person_row()
    person.opted_out = False
    await turn.repo.audit(turn.who, "opted_in", turn.now)
    confirm = turn.say("optout.resumed")
    replies = await converse(turn)
    turn.reply(confirm, *replies)
