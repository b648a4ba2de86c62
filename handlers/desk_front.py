"""Use-case: an official writes something that is no command.

The official's chat is the desk: a greeting, thanks, a question or anything the desk does not
understand gets what waits for them (registrations waiting and the oldest one's age, open
tickets, deletion requests) with buttons for the main actions; everyday phrasings of the common
commands (conversations/desk.py) run them. An official never lands in the workers' welcome,
consent or form, unless they say they want to register as a worker themselves ("daftar",
"register me"): their own registration then goes on in the workers' form until it is done.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from conversations import registration as flow
from conversations.desk import desk_intent
from conversations.events import Button, Text
from conversations.officials import Command
from conversations.state import IDLE_STEPS
from handlers import officials
from handlers.officials import Desk, desk_prompt_of, run, set_desk_prompt
from handlers.officials.claims import cases_button, waiting_lines as claim_lines
from handlers.roles import Grant, allowed, scope
from handlers.turn import Turn
from storage.models import Registration
from storage.tickets import OPEN_STATES, Ticket

# The desk prompt that marks an official registering as a worker (handlers/officials.py keeps
# an official's pending prompt in one row; another command ends it).
SELF_REGISTER = "self_register"
# Intents that run a command of the desk as it is.
COMMANDS = {"queue": "queue", "stats": "stats", "help": "help", "approved_list": "export", "links": "links"}


# The workers' commands an official keeps for their own data: seeing, correcting and deleting
# it, the language, going back or cancelling in their own form.
OWN_COMMANDS = frozenset({"mydata", "delete", "correct", "language", "back", "cancel"})


async def route(turn: Turn) -> bool:
    """An official's text that no earlier route answered (not a command, not a ticket, not an
    assisted registration): the desk answers, unless the official is registering themselves."""
    event = turn.event
    if not turn.pre.is_official or not isinstance(event, Text) or not event.text.strip():
        return False
    if flow.command_of(event.text) in OWN_COMMANDS:
        return False
    grants = await turn.grants()
    if not grants:
        return False
    prompt = await desk_prompt_of(turn.session, turn.who)
    if prompt is not None and prompt.get("action") == SELF_REGISTER:
        if turn.pre.step is not None and turn.pre.step not in IDLE_STEPS:
            return False  # their own registration goes on in the workers' form
        await run(turn, grants, lambda desk: set_desk_prompt(desk, None))  # it is done: the desk again
    return await answer(turn, grants, event.text)


async def answer(turn: Turn, grants: list[Grant], text: str) -> bool:
    """True when the desk answered; False when the workers' form takes the message (the
    official registers as a worker)."""
    intent = desk_intent(text)
    if intent == "register_self":
        await run(turn, grants, lambda desk: set_desk_prompt(desk, {"action": SELF_REGISTER}))
        return False
    if intent in COMMANDS:
        await run(turn, grants, lambda desk: officials.HANDLERS[COMMANDS[intent]](desk, Command(COMMANDS[intent])))
    elif intent == "approve_all":
        await run(turn, grants, lambda desk: officials.approve_all(desk, Command("approve", ("semua",))))
    elif intent == "how_approve":
        await run(turn, grants, how_to_approve)
    else:
        unknown = text.strip().startswith("/")
        await run(turn, grants, lambda desk: summary(desk, unknown_command=unknown))
    return True


def desk_buttons(desk: Desk) -> tuple[Button, ...]:
    """The main actions this official may take."""
    buttons = [Button("off:queue", desk.say.t("official.desk.btn.queue")),
               Button("off:stats", desk.say.t("official.desk.btn.stats"))]
    if allowed(desk.grants, "export"):
        buttons.append(Button("off:export", desk.say.t("official.desk.btn.export")))
    buttons.append(Button("off:help", desk.say.t("official.desk.btn.help")))
    return tuple(buttons)


async def summary(desk: Desk, unknown_command: bool = False) -> None:
    """What waits for this official, in their nagari (all nagari for an admin or viewer)."""
    codes = scope(desk.grants, "view")
    pending = [Registration.status.in_(("pending", "correction"))]
    deletions = [Registration.status == "deletion_requested"]
    tickets = [Ticket.status.in_(OPEN_STATES)]
    if codes is not None:
        pending.append(Registration.nagari_code.in_(sorted(codes)))
        deletions.append(Registration.nagari_code.in_(sorted(codes)))
        tickets.append(Ticket.nagari_code.in_(sorted(codes)))
    count, oldest = (await desk.session.execute(
        select(func.count(), func.min(Registration.created_at)).where(*pending))).one()
    deleting = (await desk.session.execute(select(func.count()).select_from(Registration).where(*deletions))).scalar_one()
    open_tickets = (await desk.session.execute(select(func.count()).select_from(Ticket).where(*tickets))).scalar_one()
    lines = [desk.say.t("official.desk.unknown_command")] if unknown_command else []
    # Claim cases first: a work accident's report to BPJS is due within 2 x 24 hours.
    claims = await claim_lines(desk)
    lines.extend(claims)
    lines.append(desk.say.t("official.desk.waiting", count=count, age=age(desk, oldest)) if count
                 else desk.say.t("official.desk.nothing_waiting"))
    if open_tickets:
        lines.append(desk.say.t("official.desk.tickets", count=open_tickets))
    if deleting:
        lines.append(desk.say.t("official.desk.deletions", count=deleting))
    desk.answer("official.desk.summary", ((cases_button(desk),) if claims else ()) + desk_buttons(desk),
                lines="\n".join(lines))


def age(desk: Desk, since: datetime | None) -> str:
    """How long the oldest registration has waited: "3 hari" / "5 jam" / "20 menit"."""
    if since is None:
        return "-"
    if since.tzinfo is None:  # SQLite hands back what aggregate functions found as naive UTC
        from datetime import timezone

        since = since.replace(tzinfo=timezone.utc)
    seconds = max(0, int((desk.now - since).total_seconds()))
    if seconds >= 86400:
        return desk.say.t("official.desk.age.days", n=seconds // 86400)
    if seconds >= 3600:
        return desk.say.t("official.desk.age.hours", n=seconds // 3600)
    return desk.say.t("official.desk.age.minutes", n=max(1, seconds // 60))


async def how_to_approve(desk: Desk) -> None:
    desk.answer("official.desk.how_approve", (Button("off:queue", desk.say.t("official.desk.btn.queue")),))
