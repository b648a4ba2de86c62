"""Sending: the one interface every channel's sender implements, and delivery of replies.

Each channel has exactly one sender (bot/telegram, bot/whatsapp, the simulator's, the
terminal's), which owns that platform's rate limits and error codes. Everything that sends --
replies, notifications, reminders, campaigns -- goes through `svc.senders[channel]`.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from conversations.events import Reply

if TYPE_CHECKING:
    from handlers.router import Outgoing

log = logging.getLogger(__name__)


class Priority(enum.IntEnum):
    """Replies to a person who is waiting go ahead of bulk sends (campaigns, reminders)."""

    REPLY = 0
    NOTIFY = 1
    BULK = 2


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    message_id: str | None = None
    # Retrying will not help (blocked, unknown number, invalid request): record and move on.
    permanent: bool = False
    # The person cannot be reached at all (Telegram 403: blocked the bot).
    unreachable: bool = False
    # WhatsApp 131047: outside the 24-hour window and no template configured for this message.
    needs_template: bool = False
    error: str | None = None


class Sender(Protocol):
    """`replace`: the platform message id (a DeliveryResult.message_id) of an earlier message
    to the same person that this one supersedes -- a campaign's progress, updated in place.
    Where the platform can edit (Telegram), that message is edited; where it cannot (WhatsApp
    business messages) or the edit fails, a new message is sent. The result's message_id is the
    message now showing the content."""

    channel: str

    async def send(self, to: str, reply: Reply, priority: Priority = Priority.REPLY,
                   template: str | None = None, replace: str | None = None) -> DeliveryResult: ...


def channel_of(channel_user: str) -> str:
    return channel_user.split(":", 1)[0]


async def deliver(senders: dict[str, Sender], outgoing: list["Outgoing"], replying_to: str | None = None) -> list[DeliveryResult]:
    """Send what handling produced, in order, each through its recipient's channel sender (an
    official on Telegram may decide about a worker on WhatsApp). Replies to the person who wrote
    go at REPLY priority; notices to others at NOTIFY."""
    results = []
    for message in outgoing:
        sender = senders.get(channel_of(message.to))
        if sender is None:
            log.error("no sender for channel %s: a message was not delivered", channel_of(message.to))
            results.append(DeliveryResult(ok=False, permanent=True, error="no sender"))
            continue
        priority = Priority.REPLY if replying_to in (None, message.to) else Priority.NOTIFY
        result = await sender.send(message.to, message.reply, priority)
        if not result.ok:
            log.warning("message to %s not delivered: %s", message.to, result.error)
        results.append(result)
    return results
