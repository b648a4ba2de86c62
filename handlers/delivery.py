"""Sending: the one interface every channel's sender implements, and delivery of replies.

Each channel has exactly one sender (bot/telegram, bot/whatsapp, the simulator's, the
terminal's), which owns that platform's rate limits and error codes. Everything that sends --
replies, notifications, reminders, campaigns -- goes through `svc.senders[channel]`.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Protocol

from conversations.events import Reply

log = logging.getLogger(__name__)


class Priority(enum.IntEnum):
    """Replies to a person who is waiting go ahead of bulk sends (campaigns, reminders)."""

    REPLY = 0
    NOTIFY = 1
    BULK = 2


@dataclass(frozen=True)
class Outgoing:
    """A message to send to one person (the sender, or someone told about it, e.g. an operator)."""

    to: str
    reply: Reply


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
    # The name of the approved WhatsApp template that carried it (outside the 24-hour window).
    template: str | None = None


class Sender(Protocol):
    """`replace`: the platform message id (a DeliveryResult.message_id) of an earlier message
    to the same person that this one supersedes -- a campaign's progress, updated in place.
    Where the platform can edit (Telegram), that message is edited; where it cannot (WhatsApp
    business messages) or the edit fails, a new message is sent. The result's message_id is the
    message now showing the content. `lang`: the recipient's language where the caller knows it
    (a reply to someone who just wrote), so the sender need not look it up."""

    channel: str

    async def send(self, to: str, reply: Reply, priority: Priority = Priority.REPLY,
                   template: str | None = None, replace: str | None = None,
                   lang: str | None = None) -> DeliveryResult: ...


def reaches_outside_window(senders: dict[str, Sender], key: str, lang: str) -> bool:
    """Whether WhatsApp would carry a message with key `key` to somebody outside its 24-hour
    window now: the WhatsApp sender's `reaches_outside_window(key, lang)` (answered from what
    it last read, no query, so a turn may ask); False without a WhatsApp sender."""
    sender = senders.get("wa")
    check = getattr(sender, "reaches_outside_window", None)
    return bool(check is not None and check(key, lang))


def channel_of(channel_user: str) -> str:
    return channel_user.split(":", 1)[0]
