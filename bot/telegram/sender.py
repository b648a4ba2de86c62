"""The one Telegram sender: every outgoing Telegram message goes through `TelegramSender.send`.

It keeps to the Bot API's limits (docs/domain.md): about 30 messages/s across chats and about 1/s in
one chat (a short burst allowed), replies to a waiting person ahead of bulk sends. On HTTP 429
it waits exactly `retry_after` and tries again; network errors and 5xx are retried with bounded
exponential back-off; 403 (the person blocked the bot) is final: the person is recorded as
unreachable and nobody retries.

`send(..., replace=id)` edits that earlier message in place (editMessageText, inline buttons
included) -- a campaign's progress for its admin. Only one plain text message can be an edit;
anything else, or an edit Telegram refuses (message deleted, too old to edit), goes out as a
new message. "message is not modified" means it already shows this content: success.

A Reply that forwards a Telegram message (`Reply.forward`, "tg:<chat id>:<message id>": a
worker's photo for the official of their ticket) is copied (copyMessage: the bot's own message
with the same media, no "forwarded from" header), with the reply's text as its caption where the
media carries one (what does not fit follows), else followed by the text. A message Telegram will not copy
any more (deleted by the worker) leaves the text alone; a reference of another channel is not
Telegram's to pass on: the text goes alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import CopyMessage, EditMessageText, SendDocument, SendMessage, SendPhoto, TelegramMethod
from aiogram.methods.base import Response
from aiogram.types import FSInputFile, InlineKeyboardMarkup, Message, MessageId, TelegramObject
from pydantic import ConfigDict
from sqlalchemy import select, update

from bot.telegram.adapter import CAPTION_LIMIT, Labels, Outbound, render, split_text, to_html
from bot.telegram.settings import TelegramConfig
from bot.ratelimit import PairLimiter, PriorityGate
from conversations.events import Reply
from handlers import metrics
from handlers.delivery import DeliveryResult, Priority
from handlers.outbox import delivery_rules
from handlers.retry import RetryPolicy
from handlers.services import Services
from storage.crypto import who
from storage.models import Person

log = logging.getLogger(__name__)
# Errors after which the same request may well succeed.
TRANSIENT = (TelegramNetworkError, TelegramServerError, ClientDecodeError)
# Telegram's answer to an edit that would change nothing: the message already shows it.
NOT_MODIFIED = "message is not modified"


class Sent(TelegramObject):
    """What this sender reads of a message it sent: its id. Telegram answers a send with the
    whole Message (chat, sender, text, the keyboard button by button), and aiogram would build a
    model for every part of it -- a quarter of the cost of a send -- to be thrown away."""

    model_config = ConfigDict(extra="ignore")

    message_id: int


class SendMessageForId(SendMessage):
    """sendMessage, its answer read as `Sent`."""

    __returning__ = Sent


class SendDocumentForId(SendDocument):
    __returning__ = Sent


class SendPhotoForId(SendPhoto):
    __returning__ = Sent


# aiogram reads every answer through the pydantic model Response[<the method's result type>].
# pydantic keeps such parametrised models only weakly: unless someone holds them, each garbage
# collection drops them and the next answer builds the class again (milliseconds each, a tenth
# of the CPU time of a message under load). Held here for the methods this sender calls.
RESPONSE_MODELS = tuple(Response[result] for result in (Sent, Message, Message | bool, bool, MessageId))  # type: ignore[valid-type]


def chat_id_of(channel_user: str) -> int:
    """A private chat's id is the user's id: "tg:12345" -> 12345."""
    channel, _, user_id = channel_user.partition(":")
    if channel != "tg" or not user_id.lstrip("-").isdigit():
        raise ValueError(f"not a Telegram user: {channel_user!r}")
    return int(user_id)


def telegram_message(ref: str | None) -> tuple[int, int, bool] | None:
    """(chat id, message id, whether it carries a caption) of a Media.ref
    "tg:<chat id>:<message id>[:caption]"; None for anything else."""
    channel, chat, message, *rest = (ref or "").split(":") + ["", ""]
    flag = "".join(rest)
    if channel != "tg" or not chat.lstrip("-").isdigit() or not message.isdigit() or flag not in ("", "caption"):
        return None
    return int(chat), int(message), flag == "caption"


class TelegramSender:
    channel = "tg"

    def __init__(self, bot: Bot, svc: Services, config: TelegramConfig) -> None:
        self.bot = bot
        self.svc = svc
        self.config = config
        self.retry = RetryPolicy(base=config.backoff_seconds, cap=config.backoff_max_seconds,
                                 max_attempts=config.max_attempts)
        # The channel's one pacing: every message (replies, notices, campaigns) passes this gate.
        self.per_second = delivery_rules(svc).share(config.messages_per_second)
        self._gate = PriorityGate(self.per_second)
        self._per_chat = PairLimiter(config.per_chat_interval_seconds, config.per_chat_burst)
        # Chats where our "share my phone number" keyboard may still show; the next message
        # removes it. Kept per process: at worst a one-time keyboard lingers until tapped.
        self._contact_keyboard: set[int] = set()

    async def send(self, to: str, reply: Reply, priority: Priority = Priority.REPLY,
                   template: str | None = None, replace: str | None = None,
                   lang: str | None = None) -> DeliveryResult:
        """Show one Reply to one person (one or more Bot API messages, in order), or edit the
        message `replace` to show it."""
        chat_id = chat_id_of(to)
        missing = [path for path in (reply.document, reply.image) if path and not Path(path).is_file()]
        if missing:
            # Checked first: an upload that fails while reading looks like a network error.
            log.error("file for %s is missing: %s", reply.key, missing[0])
            return DeliveryResult(ok=False, permanent=True, error="file not found")
        keyboard_shown = chat_id in self._contact_keyboard
        # The adapter's own words are needed only around a contact step or for a bare keyboard:
        # the person's language is looked up only then.
        needs_words = reply.request_contact or keyboard_shown or not reply.text.strip()
        lang = await self._lang(to) if needs_words else self.svc.rules.default_language
        labels = Labels.of(self.svc.catalog, lang)
        try:
            messages = render(reply, labels, keyboard_shown, self.config.two_per_row_max_chars)
        except ValueError as problem:
            log.error("cannot render %s for Telegram: %s", reply.key, problem)
            return DeliveryResult(ok=False, permanent=True, error=str(problem))
        result = DeliveryResult(ok=True)
        forward = telegram_message(reply.forward)
        if forward is not None:
            from_chat, message_id, captioned = forward
            # Where the media carries a caption, the text is it (its first 1,024 characters: the
            # whole ticket line, as a rule, so the official answers by replying to the photo
            # itself); the person's own caption never goes on as it was: the text says it, a NIK
            # in it masked.
            parts = split_text(reply.text, CAPTION_LIMIT) if captioned else []
            rest = "\n".join(parts[1:])
            if not parts:
                caption, markup, after = None, None, messages
            elif rest:
                caption, markup = parts[0], None
                after = render(dataclasses.replace(reply, text=rest), labels, keyboard_shown,
                               self.config.two_per_row_max_chars)
            else:
                caption, markup, after = parts[0], messages[0].markup, messages[1:]
            result = await self._call(to, chat_id, priority, CopyMessage(
                chat_id=chat_id, from_chat_id=from_chat, message_id=message_id,
                caption=to_html(caption) if caption else None, parse_mode=ParseMode.HTML if caption else None,
                reply_markup=markup))
            if not result.ok and (result.unreachable or not result.permanent):
                return result
            if not result.ok:
                log.info("could not copy a message for %s (%s): its text goes alone", who(to), result.error)
            messages = after if result.ok else messages
        elif replace is not None and self._editable(messages) and replace.isdigit():
            edited = await self._edit(to, chat_id, priority, int(replace), messages[0])
            if edited is not None:
                return edited
        for message in messages:
            result = await self._call(to, chat_id, priority, self._method(chat_id, message))
            if not result.ok:
                return result
        if reply.request_contact:
            self._contact_keyboard.add(chat_id)
        else:
            self._contact_keyboard.discard(chat_id)
        return result

    @staticmethod
    def _editable(messages: list[Outbound]) -> bool:
        """editMessageText changes one text and its inline keyboard, nothing else (no file, no
        reply keyboard: core.telegram.org/bots/api#editmessagetext)."""
        if len(messages) != 1:
            return False
        message = messages[0]
        return (not message.document and not message.image
                and (message.markup is None or isinstance(message.markup, InlineKeyboardMarkup)))

    async def _edit(self, to: str, chat_id: int, priority: Priority, message_id: int,
                    message: Outbound) -> DeliveryResult | None:
        """The edited message's result; None when Telegram refused the edit itself (deleted,
        too old, not ours), so the caller sends a new message instead."""
        markup = message.markup if isinstance(message.markup, InlineKeyboardMarkup) else None
        method = EditMessageText(chat_id=chat_id, message_id=message_id, text=to_html(message.text),
                                 parse_mode=ParseMode.HTML, reply_markup=markup)
        result = await self._call(to, chat_id, priority, method)
        if result.ok or NOT_MODIFIED in (result.error or ""):
            return DeliveryResult(ok=True, message_id=str(message_id))
        if result.permanent and not result.unreachable:
            log.info("cannot edit message %d for %s (%s): sending a new one", message_id, who(to), result.error)
            return None
        return result

    async def _lang(self, to: str) -> str:
        async with self.svc.db.session() as session:
            lang = (await session.execute(select(Person.lang).where(Person.channel_user == to))).scalar_one_or_none()
        return lang or self.svc.rules.default_language

    @staticmethod
    def _method(chat_id: int, message: Outbound) -> TelegramMethod[Any]:
        text = to_html(message.text) if message.text else None
        if message.document:
            return SendDocumentForId(chat_id=chat_id, document=FSInputFile(message.document), caption=text,
                                     parse_mode=ParseMode.HTML, reply_markup=message.markup)
        if message.image:
            return SendPhotoForId(chat_id=chat_id, photo=FSInputFile(message.image), caption=text,
                                  parse_mode=ParseMode.HTML, reply_markup=message.markup)
        return SendMessageForId(chat_id=chat_id, text=text or "", parse_mode=ParseMode.HTML,
                                reply_markup=message.markup)

    async def _call(self, to: str, chat_id: int, priority: Priority, method: TelegramMethod[Any]) -> DeliveryResult:
        """One API call within the limits, retried as the error says."""
        error = ""
        for attempt in self.retry.attempts():
            await self._per_chat.acquire(str(chat_id))
            await self._gate.acquire(int(priority))
            try:
                sent = await self.bot(method)
                return DeliveryResult(ok=True, message_id=str(getattr(sent, "message_id", "")) or None)
            except TelegramRetryAfter as problem:
                # Telegram says exactly how long to wait; the chat's bucket holds every message
                # to this chat until then (the next acquire waits it out).
                self._per_chat.penalise(str(chat_id), problem.retry_after)
                error = f"429 retry after {problem.retry_after} s"
                metrics.sent(to, "429")
            except TelegramForbiddenError:
                await self._mark_unreachable(to)
                return DeliveryResult(ok=False, permanent=True, unreachable=True, error="403 forbidden")
            except TRANSIENT as problem:
                error = type(problem).__name__
                if not self.retry.gives_up(attempt):
                    await asyncio.sleep(self.retry.delay(attempt))
            except TelegramAPIError as problem:
                # 400 and the like: the request itself is wrong; repeating it cannot help. A refused
                # edit or copy is expected (the message is gone or too old): the caller goes on without.
                level = logging.WARNING if isinstance(method, (EditMessageText, CopyMessage)) else logging.ERROR
                log.log(level, "Telegram refused %s to %s: %s", method.__api_method__, to, problem.message)
                return DeliveryResult(ok=False, permanent=True, error=problem.message)
            log.warning("%s to %s failed (attempt %d of %d): %s", method.__api_method__, who(to), attempt,
                        self.config.max_attempts, error)
        return DeliveryResult(ok=False, error=error)

    async def _mark_unreachable(self, to: str) -> None:
        """403: the person blocked the bot. Recorded on the person (campaigns and reminders skip
        them); an UPDATE, not an insert: someone whose data was erased stays erased."""
        log.info("%s blocked the bot: marked unreachable", who(to))
        async with self.svc.db.session() as session:
            await session.execute(update(Person).where(Person.channel_user == to).values(unreachable=True))
            await session.commit()
