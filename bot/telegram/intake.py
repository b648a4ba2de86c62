"""Telegram intake: updates in by long polling or webhook, one aiogram dispatcher for both.

Every update is recorded in the inbox (handlers/ingest.accept, deduplicated by update_id within
Telegram's 24 h) before Telegram is told it arrived: the webhook answers 200 only after the
record is committed (a failure answers 500 and Telegram sends it again); polling asks for the
next offset only after every update of the batch is recorded. Each person's recorded updates are
then handled strictly in order by `ingest.drain` in a background task per person (different
people concurrently); `keep_recovering` picks up updates left unfinished by a dead process.

The dispatcher only records and answers callback queries; the conversation decides everything,
and its state lives in our storage (never aiogram's FSM storage), so a second process or a
restart continues every conversation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from functools import partial
from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramUnauthorizedError
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.types import CallbackQuery, Message, Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot import documents
from bot.server import Channel
from bot.telegram import adapter
from bot.telegram.sender import TRANSIENT, TelegramSender
from bot.telegram.settings import WEBHOOK_PATH, TelegramConfig, TelegramEnv
from conversations.events import Document, Inbound
from handlers import ingest
from handlers.delivery import deliver
from handlers.retry import RetryPolicy
from handlers.router import Outgoing
from handlers.services import Services

log = logging.getLogger(__name__)
# On shutdown, turns in progress get this long to finish and send their replies.
SHUTDOWN_GRACE_SECONDS = 10.0


class TelegramIntake:
    """Records updates and runs one drain task per person with recorded updates."""

    def __init__(self, svc: Services, bot: Bot, config: TelegramConfig) -> None:
        self.svc = svc
        self.bot = bot
        self.config = config
        # Polling, recording and start-up calls wait alike between tries (start-up calls give up).
        self.retry = RetryPolicy(base=config.backoff_seconds, cap=config.backoff_max_seconds,
                                 max_attempts=config.max_attempts)
        self._drains: dict[str, asyncio.Task[None]] = {}
        # People whose drain must look again: an update was recorded while it was finishing.
        self._again: set[str] = set()
        self._background: set[asyncio.Task[Any]] = set()

    # -- recording ----------------------------------------------------------------------------
    async def record(self, update: Update) -> None:
        """Commit one update to the inbox, then make sure its person's drain runs."""
        channel_user = adapter.channel_user_of(update)
        if channel_user is None:
            return
        payload = update.model_dump(mode="json", by_alias=True, exclude_none=True)
        await ingest.accept(self.svc, "tg", str(update.update_id), update.update_id, channel_user, payload)
        # Also for a redelivered duplicate: if its first copy was left unfinished, this finishes it.
        self.schedule(channel_user)

    def schedule(self, channel_user: str) -> None:
        if channel_user in self._drains:
            self._again.add(channel_user)
            return
        self._drains[channel_user] = asyncio.create_task(self._drain(channel_user))

    async def _drain(self, channel_user: str) -> None:
        try:
            while True:
                self._again.discard(channel_user)
                try:
                    await ingest.drain(self.svc, channel_user, self.decode, self.deliver)
                except Exception:  # noqa: BLE001 - the update stays recorded; keep_recovering retries
                    log.exception("draining the Telegram updates of %s failed", channel_user)
                    return
                if channel_user not in self._again:
                    return
        finally:
            del self._drains[channel_user]

    async def idle(self) -> None:
        """Wait until every person's recorded updates are handled and answered."""
        while self._drains or self._background:
            await asyncio.gather(*self._drains.values(), *self._background, return_exceptions=True)

    async def stop(self, timeout: float) -> None:
        """Shutdown: let running turns finish for a while, then cancel them. A cancelled turn
        is not lost: its update is still recorded and is handled at the next start."""
        try:
            await asyncio.wait_for(self.idle(), timeout)
        except TimeoutError:
            for task in [*self._drains.values(), *self._background]:
                task.cancel()
            await asyncio.gather(*self._drains.values(), *self._background, return_exceptions=True)

    # -- handling (called by ingest.drain) -------------------------------------------------------
    async def decode(self, payload: dict[str, Any]) -> tuple[Inbound | None, str | None]:
        """A recorded update back into the conversation's event (Telegram knows no phone); an
        attached spreadsheet is downloaded first and becomes a Document."""
        update = Update.model_validate(payload)
        attachment = adapter.attachment_of(update)
        document = await self.download(attachment) if attachment is not None else None
        return document or adapter.inbound_of(update), None

    async def download(self, attachment: documents.Attachment) -> Document | None:
        """getFile, then the file through the Bot API server (at most 20 MB there); None when
        Telegram refuses it or it is too big: the flow then answers it as any attachment."""
        try:
            file = await self.bot.get_file(attachment.file_id)
        except TelegramBadRequest as problem:
            # E.g. "file is too big" or an unknown file id: retrying cannot help.
            log.info("document of an update not downloadable: %s", problem)
            return None
        file_path = file.file_path
        if file_path is None or not documents.fits(file.file_size):
            return None
        folder = self.svc.config.resolve(self.svc.config.officials.import_dir)
        return await documents.save(folder, attachment,
                                    lambda handle: self.bot.download_file(file_path, handle, seek=False))

    async def deliver(self, outgoing: list[Outgoing]) -> None:
        """Send what handling produced through each recipient's channel sender."""
        await deliver(self.svc.senders, outgoing)

    # -- polling ------------------------------------------------------------------------------
    async def poll(self, dispatcher: Dispatcher) -> None:
        """Long polling. The offset that confirms a batch to Telegram is sent only after every
        update in it is recorded."""
        await self.call_retrying(partial(self.bot.delete_webhook, drop_pending_updates=False))
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await self.bot.get_updates(offset=offset, timeout=self.config.poll_timeout_seconds,
                                                     allowed_updates=adapter.ALLOWED_UPDATES)
            except TelegramUnauthorizedError:
                log.error("Telegram refused the bot token (401): polling stopped")
                raise
            except TelegramAPIError as problem:
                # 409: a webhook is set or another process polls with the same token.
                failures += 1
                delay = self.retry.delay(failures)
                log.warning("getUpdates failed: %s; retrying in %.1f s", problem, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            for update in updates:
                await self.feed(dispatcher, update)
                offset = update.update_id + 1

    async def feed(self, dispatcher: Dispatcher, update: Update) -> None:
        """Run one polled update through the dispatcher. While the database is unavailable the
        same update is retried (polling stalls rather than confirming what was not recorded)."""
        failures = 0
        while True:
            try:
                result = await dispatcher.feed_update(self.bot, update)
                break
            except (SQLAlchemyError, OSError) as problem:
                failures += 1
                delay = self.retry.delay(failures)
                log.warning("cannot record update %d (%s); retrying in %.1f s", update.update_id,
                            type(problem).__name__, delay)
                await asyncio.sleep(delay)
            except Exception:  # noqa: BLE001 - a malformed update must not stop polling for everyone
                log.exception("update %d cannot be recorded: skipped", update.update_id)
                return
        if isinstance(result, TelegramMethod):
            self._in_background(self._call_quietly(result))

    def _in_background(self, job: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(job)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _call_quietly(self, method: TelegramMethod[Any]) -> None:
        try:
            await self.bot(method)
        except TelegramAPIError as problem:
            # E.g. a callback query answered too late ("query is too old"): nothing to repair.
            log.debug("%s failed: %s", method.__api_method__, problem)

    async def call_retrying(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """A start-up call (deleteWebhook, setWebhook, setMyCommands), retried with back-off
        while Telegram's API is unreachable."""
        for attempt in self.retry.attempts():
            try:
                return await call()
            except TRANSIENT as problem:
                if self.retry.gives_up(attempt):
                    raise
                delay = self.retry.delay(attempt)
                log.warning("Telegram start-up call failed (%s); retrying in %.1f s", type(problem).__name__, delay)
                await asyncio.sleep(delay)
        return None

    # -- start-up and recovery --------------------------------------------------------------------
    async def keep_recovering(self) -> None:
        """At start, then every `recover_every_seconds`: handle updates recorded but never
        finished (a process that died, a drain that failed)."""
        grace = 0.0
        while True:
            # A round runs as a background task of the intake: cancelling this loop (shutdown)
            # leaves turns under way to `stop`, which lets them finish within the grace.
            round_ = asyncio.ensure_future(ingest.recover(self.svc, {"tg": self.decode}, {"tg": self.deliver},
                                                          grace=timedelta(seconds=grace)))
            self._background.add(round_)
            round_.add_done_callback(self._background.discard)
            try:
                await asyncio.shield(round_)
            except Exception:  # noqa: BLE001 - the database may be down; try again later
                log.exception("recovering unfinished Telegram updates failed")
            grace = self.config.recover_every_seconds
            await asyncio.sleep(self.config.recover_every_seconds)



# -- the dispatcher: one factory for polling and webhook -----------------------------------------
async def record_message(message: Message, event_update: Update, intake: TelegramIntake) -> None:
    """Records a private message (text, command, shared contact, media) before it is acknowledged."""
    await intake.record(event_update)


async def record_button(query: CallbackQuery, event_update: Update, intake: TelegramIntake) -> AnswerCallbackQuery:
    """Records a button tap, and answers the callback query: Telegram shows a spinner on the
    button until it is answered. The flow's reply (or "button.stale" for a button of an earlier
    question) follows as a message."""
    await intake.record(event_update)
    return query.answer()


def build_dispatcher(intake: TelegramIntake) -> Dispatcher:
    """The dispatcher both intakes feed: polling (`TelegramIntake.feed`) and the webhook
    (`SimpleRequestHandler`). No FSM: conversation state lives in our storage."""
    router = Router(name="telegram-intake")
    router.message.register(record_message, F.chat.type == ChatType.PRIVATE)
    router.callback_query.register(record_button)
    dispatcher = Dispatcher(disable_fsm=True, intake=intake)
    dispatcher.include_router(router)
    return dispatcher


def make_bot(env: TelegramEnv) -> Bot:
    """A Bot on the configured API server (TELEGRAM_API_BASE: a local Bot API server, or the
    tests' fake)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(env.api_base.rstrip("/")))
    return Bot(env.token, session=session)


async def announce(intake: TelegramIntake, env: TelegramEnv) -> None:
    """At start: the command menu in Indonesian (also the default) and English, and the webhook
    when a public URL is configured."""
    bot, catalog = intake.bot, intake.svc.catalog
    try:
        await intake.call_retrying(partial(bot.set_my_commands, adapter.bot_commands(catalog, "id")))
        for lang in adapter.COMMANDS:
            await intake.call_retrying(partial(bot.set_my_commands, adapter.bot_commands(catalog, lang),
                                               language_code=lang))
        if env.webhook_mode and env.webhook_url:
            await intake.call_retrying(partial(
                bot.set_webhook, env.webhook_url, secret_token=env.webhook_secret,
                allowed_updates=adapter.ALLOWED_UPDATES, drop_pending_updates=False))
            log.info("Telegram webhook set")
    except TelegramAPIError as problem:
        log.error("Telegram start-up calls failed: %s", problem)


INTAKE = web.AppKey("telegram_intake", TelegramIntake)


async def open_channel(app: web.Application, svc: Services, environ: Mapping[str, str]) -> Channel:
    """Sets up the Telegram channel on the server's app: webhook route when
    TELEGRAM_WEBHOOK_SECRET is set, else long polling; recovery; the sender."""
    env = TelegramEnv.from_environ(environ)
    config: TelegramConfig = svc.config.telegram
    bot = make_bot(env)
    intake = TelegramIntake(svc, bot, config)
    dispatcher = build_dispatcher(intake)
    app[INTAKE] = intake
    tasks: list[Callable[[], Awaitable[None]]] = [partial(announce, intake, env), intake.keep_recovering]
    if env.webhook_mode:
        # handle_in_background=False: the 200 goes out only after the update is recorded; the
        # handler checks X-Telegram-Bot-Api-Secret-Token (401 when missing or wrong).
        SimpleRequestHandler(dispatcher, bot, secret_token=env.webhook_secret,
                             handle_in_background=False).register(app, path=WEBHOOK_PATH)
        log.info("Telegram: webhook at %s", WEBHOOK_PATH)
    else:
        tasks.append(partial(intake.poll, dispatcher))
        log.info("Telegram: long polling")

    async def close() -> None:
        await intake.stop(timeout=SHUTDOWN_GRACE_SECONDS)
        await bot.session.close()

    return Channel("tg", sender=TelegramSender(bot, svc, config), tasks=tasks, close=close, stop=intake.stop)
