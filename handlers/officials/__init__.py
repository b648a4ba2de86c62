"""Use-cases of nagari officials: the queue, details, decisions within the quota, corrections,
exports, enrolment imports, statistics, invitations, assisted registration, history.

A route of handlers.router (`route`): it answers a message when the sender holds a grant and
typed or tapped an official command (or is in an assisted registration, or was asked to type a
reason), and when anyone sends `/kode` to take an invitation; otherwise it passes (an official's
other words reach the desk's front, handlers/desk_front.py). The commands are one table,
handlers/officials/commands.py; the permission a row names is checked before its handler runs,
and each handler checks the nagari with handlers.roles. A refusal is the one key
`official.not_allowed`, whether or not the reference exists, and changes nothing.

Replies go to the official; notices about a decision go to the worker, in the worker's language
(Registration.lang), as Outgoing messages beside them (adapters deliver by `to`).

The package: desk.py (the Desk, notices, prompts), reading.py (queue, details, history),
deciding.py (approve, reject, correct, undo, withdraw, end), admin.py (quotas, invitations,
help), files.py (export, import, statistics), assist.py (assisted registration, the digest),
links.py (registration links and posters, /tautan), commands.py (the table).
"""

from __future__ import annotations

from sqlalchemy import delete

from conversations import registration as flow
from conversations.events import ButtonPress, Document, Inbound, Text
from conversations.handover import is_ticket_command
from conversations.invitations import code_of_start
from conversations.officials import Command, parse_button
from handlers.officials.assist import DUE_JOBS, continue_assist, digest_job, install, start_assist
from handlers.officials.commands import BY_NAME, HANDLERS, WORDS, parse, word_of
from handlers.officials.deciding import approve_all, complete_prompt, with_references
from handlers.officials.desk import (
    DESK_PREFIX,
    Desk,
    desk_prompt_of,
    refuse,
    run,
    set_desk_prompt,
    worker_notice,
)
from handlers.officials.files import apply_import, on_document
from handlers.roles import Grant, allowed
from handlers.turn import Turn
from storage.models import Conversation

__all__ = ["DUE_JOBS", "Desk", "HANDLERS", "apply_import", "approve_all", "desk_prompt_of", "digest_job",
           "install", "route", "run", "set_desk_prompt", "worker_notice"]


async def route(turn: Turn) -> bool:
    """Answers an official's command (or an invitation code), an operator's assisted
    registration and an admin's uploaded file; everything else passes on."""
    event = turn.event
    if isinstance(event, Document):
        return await on_document(turn, event)
    if is_ticket_command(event):
        return False  # the next route's (handlers/handover.py)
    command = command_of(event)
    if command is None:
        if isinstance(event, Text) and event.text.strip() and turn.pre.is_official:
            prompt = await desk_prompt_of(turn.session, turn.who)
            grants = await turn.grants()
            if prompt is not None and grants and prompt.get("action") in ("reject", "fix"):
                await run(turn, grants, lambda desk: complete_prompt(desk, prompt, event.text))
                return True
        return await continue_assist(turn)
    grants = await turn.grants()
    if not owned(command, event, grants):
        return False
    row = BY_NAME.get(command.name)
    if not grants and command.name != "code" or row is not None and row.permission and not allowed(grants, row.permission):
        await run(turn, grants, lambda desk: refuse(desk, command))
        return True
    if command.name == "register_for":
        await start_assist(turn)
        return True
    handler = HANDLERS[command.name]
    if grants and command.name not in ("rjpick", "fxf") and await desk_prompt_of(turn.session, turn.who) is not None:
        # Another command: the earlier "type the reason" prompt is over.
        await turn.session.execute(delete(Conversation).where(Conversation.channel_user == DESK_PREFIX + turn.who))
    if row is not None and row.reference and not command.button:
        await run(turn, grants, lambda desk: with_references(desk, command, handler, row.reference == "several",
                                                             word_of(command.name, desk.say.lang)))
        return True
    await run(turn, grants, lambda desk: handler(desk, command))
    return True


def command_of(event: Inbound) -> Command | None:
    if isinstance(event, Text):
        # A Telegram deep link made by `python -m bot officials invite` ("/start kode-<CODE>").
        invited = code_of_start(event.link)
        if invited is not None:
            return Command("code", (invited,), invited, slash=True)
        return parse(event.text)
    if isinstance(event, ButtonPress):
        return parse_button(event.button_id, WORDS)
    return None


def owned(command: Command, event: Inbound, grants: list[Grant]) -> bool:
    """Whether this route answers: a worker's own commands ("perbaiki data", "bantuan")
    stay with the worker flow; someone without a grant who typed "/setujui ..." or tapped an
    official's button is refused; `/kode` is for anyone."""
    if command.name == "code":
        return bool(command.args)
    if command.name == "help":
        return bool(grants)
    if isinstance(event, Text) and flow.command_of(event.text) is not None:
        return False
    return bool(grants) or command.slash or command.button
