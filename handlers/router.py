"""Where an inbound message goes: official commands first (for people who hold a role), then the
worker's registration conversation. Every channel adapter calls `dispatch` and nothing else."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Awaitable, Callable

from conversations.events import Inbound, Reply
from handlers.inbound import InTransaction, handle_message, record_inbound
from handlers.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    """A message to send to one person (the sender, or someone told about it, e.g. an operator)."""

    to: str
    reply: Reply


# An interceptor answers a message it owns (e.g. an official's command) or returns None. When it
# answers, it must run `in_transaction` (if given) inside the transaction that commits its work.
Interceptor = Callable[[Services, str, Inbound, InTransaction | None], Awaitable[list[Outgoing] | None]]
INTERCEPTORS: list[Interceptor] = []


async def dispatch(svc: Services, channel_user: str, event: Inbound, known_phone: str | None = None,
                   in_transaction: InTransaction | None = None) -> list[Outgoing]:
    for interceptor in INTERCEPTORS:
        try:
            handled = await interceptor(svc, channel_user, event, in_transaction)
        except Exception:
            # As in the registration handler: no input may crash the bot; nothing was committed
            # (the update stays in the inbox for later), and the person is told to try again.
            log.exception("failed to handle a %s from %s (%s)", type(event).__name__, channel_user,
                          interceptor.__module__)
            reply = Reply("error.internal", svc.catalog.text(svc.rules.default_language, "error.internal"))
            return [Outgoing(channel_user, reply)]
        if handled is not None:
            # The registration handler records this for its own messages; commands answered
            # here must count too (WhatsApp's 24-hour window, delivery failures, blocked bot).
            await record_inbound(svc, channel_user)
            return handled
    replies = await handle_message(svc, channel_user, event, known_phone, in_transaction)
    return [Outgoing(channel_user, reply) for reply in replies]
