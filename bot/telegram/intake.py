"""Telegram intake: updates in by long polling or webhook, recorded as Telegram sent them.

Every update is recorded in the inbox (handlers/ingest.accept, deduplicated by update_id within
Telegram's 24 h) before Telegram is told it arrived, as the JSON it came in -- no model reads it
first, so no shape (new fields, examples without `chat.type`) can stop it from being recorded.
The webhook answers 200 only after the record is committed; polling asks for the next offset only
after every update of the batch is recorded. After authentication (the secret token header), a
body that is not a JSON object with an integer update_id is refused with 400 and one log line.

Each person's recorded updates are then decoded by aiogram's model and handled strictly in order
by `ingest.drain` in a background task per person (different people concurrently);
`keep_recovering` picks up updates left unfinished by a dead process. An update the model cannot
read is set aside in the inbox with one WARNING line (`python -m bot inbox list`), never retried
for ever and never lost. Button taps are answered (the spinner stops) as soon as they are
recorded: in the webhook's response, or by a call when polling.

Conversation state lives in our storage (never aiogram's FSM storage), so a second process or a
restart continues every conversation.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from functools import partial
from typing import Any

from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramNotFound, TelegramUnauthorizedError
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.utils.token import TokenValidationError
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot import documents
from bot.channels import Channel
from bot.config import ConfigError
from bot.telegram import adapter
from bot.telegram.menus import MenuKeeper
from bot.telegram.sender import TRANSIENT, TelegramSender
from bot.telegram.session import JsonSession
from bot.telegram.settings import WEBHOOK_PATH, TelegramConfig, TelegramEnv
from bot.webhook_body import read_body
from conversations.events import Document, Inbound
from handlers import ingest
from handlers.retry import RetryPolicy
from handlers.services import Services
from storage.crypto import who

log = logging.getLogger(__name__)
# On shutdown, turns in progress get this long to finish and send their replies.
SHUTDOWN_GRACE_SECONDS = 10.0
# The token check at start (getMe) waits this long for Telegram before going on unchecked.
TOKEN_CHECK_SECONDS = 10
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class GetRawUpdates(TelegramMethod[list[Any]]):
    """getUpdates with the updates left as JSON: aiogram's own GetUpdates validates every update
    of a batch into its model, and one it cannot read would fail the whole batch."""

    __returning__ = list[Any]
    __api_method__ = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


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
        self.webhook_secret: str | None = None

    # -- recording ----------------------------------------------------------------------------
    async def record(self, update: dict[str, Any], body: str | None = None) -> None:
        """Commit one update (already checked by `adapter.check_update`) to the inbox as it came
        (`body`: the webhook's JSON text, stored as it is), then make sure its person's drain runs."""
        channel_user = adapter.recording_user(update)
        update_id = update["update_id"]
        await ingest.accept(self.svc, "tg", str(update_id), update_id, channel_user, update, body)
        # Also for a redelivered duplicate: if its first copy was left unfinished, this finishes it.
        self.schedule(channel_user)

    async def webhook(self, request: web.Request) -> web.Response:
        """POST /telegram/webhook: the secret token (401 without it), then the body as JSON (400
        when malformed), recorded and committed, then 200 -- answering a button tap in the
        response itself, as the Bot API allows, so the tap costs no extra call."""
        secret = self.webhook_secret or ""
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(errors="replace"), secret.encode()):
            return web.Response(status=401, text="Unauthorized")
        body = await read_body(request, self.svc.config.limits, "Telegram")
        if isinstance(body, web.Response):
            return body
        update, problem = adapter.read_update(body)
        if update is None:
            log.warning("Telegram webhook: refused a malformed update: %s", problem)
            return web.Response(status=400, text="Bad Request")
        try:
            await self.record(update, adapter.as_text(body))
        except (SQLAlchemyError, OSError) as failure:
            # Telegram sends it again later: nothing is lost, and the log gets one line.
            log.warning("cannot record Telegram update %d (%s): answered 503", update["update_id"],
                        type(failure).__name__)
            return web.Response(status=503, text="Service Unavailable")
        query_id = adapter.callback_query_id(update)
        if query_id is not None:
            return web.json_response({"method": AnswerCallbackQuery.__api_method__, "callback_query_id": query_id})
        return web.json_response({})

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
                    await ingest.drain(self.svc, channel_user, self.decode)
                except Exception:  # noqa: BLE001 - the update stays recorded; keep_recovering retries
                    log.exception("draining the Telegram updates of %s failed", who(channel_user))
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
        """A recorded update back into the conversation's event (Telegram knows no phone); None
        for updates that get no answer; Undecodable for a shape aiogram's model cannot read. An
        attached spreadsheet is downloaded first and becomes a Document."""
        update = adapter.decode(payload) if adapter.needs_reading(payload) else None
        event = adapter.inbound_of(update) if update is not None else None
        if update is None or event is None:
            log.debug("Telegram update %s (%s) needs no answer", payload.get("update_id"),
                      adapter.update_kind(payload))
            return None, None
        attachment = adapter.attachment_of(update)
        document = await self.download(attachment) if attachment is not None else None
        return document or event, None

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

    # -- polling ------------------------------------------------------------------------------
    async def poll(self) -> None:
        """Long polling. The offset that confirms a batch to Telegram is sent only after every
        update in it is recorded."""
        # Without network at start, wait for it (for ever, capped back-off) instead of exiting.
        await self.call_retrying(partial(self.bot.delete_webhook, drop_pending_updates=False), forever=True)
        self.svc.contacts.ok("tg", self.svc.clock.now())
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await self.bot(GetRawUpdates(offset=offset, timeout=self.config.poll_timeout_seconds,
                                                       allowed_updates=adapter.ALLOWED_UPDATES))
            except TelegramUnauthorizedError:
                log.error("Telegram refused the bot token (401): polling stopped")
                raise
            except TelegramAPIError as problem:
                # 409: a webhook is set or another process polls with the same token.
                self.svc.contacts.failed("tg", self.svc.clock.now(), f"getUpdates: {problem}")
                failures += 1
                delay = self.retry.delay(failures)
                log.warning("getUpdates failed: %s; waiting for Telegram, retrying in %.1f s", problem, delay)
                await asyncio.sleep(delay)
                continue
            self.svc.contacts.ok("tg", self.svc.clock.now())
            failures = 0
            for raw in updates:
                update, problem = adapter.check_update(raw)
                if update is None:
                    # Without an update_id it cannot be recorded, nor confirmed on its own.
                    log.warning("getUpdates: refused a malformed update: %s", problem)
                    continue
                await self.feed(update)
                offset = max(offset or 0, update["update_id"] + 1)

    async def feed(self, update: dict[str, Any]) -> None:
        """Record one polled update. While the database is unavailable the same update is retried
        (polling stalls rather than confirming what was not recorded)."""
        failures = 0
        while True:
            try:
                await self.record(update)
                break
            except (SQLAlchemyError, OSError) as problem:
                failures += 1
                delay = self.retry.delay(failures)
                log.warning("cannot record update %d (%s); retrying in %.1f s", update["update_id"],
                            type(problem).__name__, delay)
                await asyncio.sleep(delay)
        query_id = adapter.callback_query_id(update)
        if query_id is not None:
            self._in_background(self._call_quietly(AnswerCallbackQuery(callback_query_id=query_id)))

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

    async def call_retrying(self, call: Callable[[], Awaitable[Any]], forever: bool = False) -> Any:
        """A start-up call (deleteWebhook, setWebhook, setMyCommands), retried with back-off
        while Telegram's API is unreachable: `max_attempts` times, or for ever (`forever`, polling's
        first call), saying that it is waiting."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call()
            except TRANSIENT as problem:
                if not forever and self.retry.gives_up(attempt):
                    raise
                self.svc.contacts.failed("tg", self.svc.clock.now(), f"{type(problem).__name__}: {problem}")
                delay = self.retry.delay(attempt)
                log.warning("Telegram unreachable (%s): waiting, retrying in %.1f s", type(problem).__name__, delay)
                await asyncio.sleep(delay)

    # -- start-up and recovery --------------------------------------------------------------------
    async def keep_recovering(self) -> None:
        """At start, then every `recover_every_seconds`: handle updates recorded but never
        finished (a process that died, a drain that failed)."""
        grace = 0.0
        while True:
            # A round runs as a background task of the intake: cancelling this loop (shutdown)
            # leaves turns under way to `stop`, which lets them finish within the grace.
            round_ = asyncio.ensure_future(ingest.recover(self.svc, {"tg": self.decode},
                                                          grace=timedelta(seconds=grace)))
            self._background.add(round_)
            round_.add_done_callback(self._background.discard)
            try:
                await asyncio.shield(round_)
            except Exception:  # noqa: BLE001 - the database may be down; try again later
                log.exception("recovering unfinished Telegram updates failed")
            grace = self.config.recover_every_seconds
            await asyncio.sleep(self.config.recover_every_seconds)



def make_bot(env: TelegramEnv) -> Bot:
    """A Bot on the configured API server (TELEGRAM_API_BASE: a local Bot API server, or the
    tests' fake), sending its calls as JSON (bot/telegram/session.py)."""
    session = JsonSession(api=TelegramAPIServer.from_base(env.api_base.rstrip("/")))
    return Bot(env.token, session=session)


async def announce(intake: TelegramIntake, env: TelegramEnv) -> None:
    """At start: the workers' command menu in Indonesian (also the default) and English, and the
    webhook when a public URL is configured. The officials' menus: bot/telegram/menus.py."""
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


async def check_token(bot: Bot) -> None:
    """Once at start: getMe. A token Telegram refuses (revoked, mistyped: 401, or 404 for one it
    cannot even route) stops the start in one line naming TELEGRAM_BOT_TOKEN (exit 2), instead
    of a service that polls 401s for ever. Without network the start goes on (polling waits for
    Telegram, and says so): only a refusal is a wrong setting."""
    try:
        me = await bot.get_me(request_timeout=TOKEN_CHECK_SECONDS)
    except (TelegramUnauthorizedError, TelegramNotFound) as problem:
        await bot.session.close()
        status = "401 Unauthorized" if isinstance(problem, TelegramUnauthorizedError) else "404 Not Found"
        raise ConfigError(f"Telegram refused TELEGRAM_BOT_TOKEN ({status}): revoked or mistyped; "
                          "copy it again from @BotFather") from None
    except (TelegramAPIError, OSError, asyncio.TimeoutError) as problem:
        log.warning("Telegram: the token could not be checked at start (%s): going on", type(problem).__name__)
        return
    log.info("Telegram: the bot is @%s", me.username)


INTAKE = web.AppKey("telegram_intake", TelegramIntake)
MENUS = web.AppKey("telegram_menus", MenuKeeper)


async def open_channel(app: web.Application, svc: Services, environ: Mapping[str, str]) -> Channel:
    """Sets up the Telegram channel on the server's app: webhook route when
    TELEGRAM_WEBHOOK_SECRET is set, else long polling; recovery; the sender."""
    env = TelegramEnv.from_environ(environ)
    config: TelegramConfig = svc.config.telegram
    try:
        bot = make_bot(env)
    except TokenValidationError:
        raise ConfigError("Invalid TELEGRAM_BOT_TOKEN: not a bot token (the form is 123456789:AA..., "
                          "from @BotFather)") from None
    await check_token(bot)
    intake = TelegramIntake(svc, bot, config)
    app[INTAKE] = intake
    menus = MenuKeeper(svc, bot, config, intake.call_retrying)
    app[MENUS] = menus
    svc.officials_changed.append(menus.changed)
    tasks: list[Callable[[], Awaitable[None]]] = [partial(announce, intake, env), intake.keep_recovering,
                                                  menus.keep]
    if env.webhook_mode:
        # The 200 goes out only after the update is recorded; X-Telegram-Bot-Api-Secret-Token is
        # checked first (401 when missing or wrong).
        intake.webhook_secret = env.webhook_secret
        app.router.add_post(WEBHOOK_PATH, intake.webhook)
        log.info("Telegram: webhook at %s", WEBHOOK_PATH)
    else:
        tasks.append(intake.poll)
        log.info("Telegram: long polling")

    async def close() -> None:
        if menus.changed in svc.officials_changed:
            svc.officials_changed.remove(menus.changed)
        await intake.stop(timeout=SHUTDOWN_GRACE_SECONDS)
        await bot.session.close()

    return Channel("tg", sender=TelegramSender(bot, svc, config), tasks=tasks, close=close, stop=intake.stop)
