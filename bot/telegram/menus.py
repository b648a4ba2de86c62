"""Officials' command menus in Telegram: each official sees the commands of their own roles.

Telegram shows a chat the menu of the most specific scope it holds for it (Bot API,
BotCommandScope). Workers get the default menu (`intake.announce`: Indonesian, and English for
`language_code` "en"). Each official on Telegram gets a menu for their own chat
(BotCommandScopeChat), made of the desk commands their roles may use -- `handlers.roles.allowed`
decides, so the menu never offers a command that would be refused -- in their own language
(Person.lang; the default language until they write). When every grant of an official is
revoked, deleteMyCommands for that chat puts the worker's menu back.

How it is kept (the simplest design that stays correct across processes): `MenuKeeper`
*reconciles* rather than being told what to do. A round reads the channel's officials in one
query (`handlers.roles.officials_of_channel`), compares each chat's wanted menu (roles, language;
None for the worker's menu) with what this process last set, and sends only the differences, one
call at a time at the channel's message rate (429 waited out, network errors retried as the
start-up calls are). Rounds run

- at start-up: every official once, in the background (start-up does not wait for it);
- every `telegram.menu_refresh_seconds`: changes made elsewhere (`python -m bot officials
  add|remove`, a turn handled by another bot process) and calls that failed;
- at once after a turn of this process changed roles or an official's language (an invitation
  taken with `/kode`, `bahasa`): the turn, after its commit, calls `Services.officials_changed`,
  which only wakes the keeper.

So no turn calls Telegram, the turn's transaction is never held open for the platform, handlers/
knows nothing of menus, nothing extra is stored, and a lost wake-up or a failed call is repaired
by the next round. Several processes each keep the menus: they set the same ones, harmlessly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter
from aiogram.types import BotCommand, BotCommandScopeChat

from bot.telegram.sender import TRANSIENT, chat_id_of
from conversations.i18n import Catalog
from handlers.roles import Grant, allowed, officials_of_channel
from handlers.officials.commands import COMMANDS as DESK_COMMANDS
from handlers.services import Services
from handlers.settings import TelegramConfig
from storage.crypto import who

log = logging.getLogger(__name__)

# The desk commands in menu order: (the action it needs, handlers/roles.PERMISSIONS; the command
# in Indonesian, in English; the description's catalog key, telegram.po: telegram.desk.<English>).
# The desk's own come from its command table (handlers/officials/commands.py); the broadcast
# composer's and the ticket commands are placed among them by their order numbers.
OTHER_MENU_ROWS: tuple[tuple[int, str, str, str], ...] = (
    (160, "broadcast", "siaran", "broadcast"),
    (170, "handover", "tiket", "tickets"),
    (180, "handover", "ambil", "take"),
    (190, "handover", "balas", "reply"),
    (200, "handover", "tutup", "close"),
)
DESK_MENU: tuple[tuple[str, str, str], ...] = tuple(
    (action, name_id, name_en) for _, action, name_id, name_en in sorted(
        [(row.menu, row.permission or "view", *row.words) for row in DESK_COMMANDS if row.menu is not None]
        + list(OTHER_MENU_ROWS)))
# What a chat shows: (roles, language), or None for the worker's (default) menu.
Wanted = tuple[frozenset[str], str] | None
UNKNOWN = object()  # a chat this process has set nothing for yet


def desk_commands(catalog: Catalog, roles: frozenset[str], lang: str) -> list[BotCommand]:
    """An official's menu: the desk commands `roles` may use, named and described in `lang`."""
    grants = [Grant(role, None) for role in sorted(roles)]
    english = lang == "en"
    return [BotCommand(command=name_en if english else name_id,
                       description=catalog.text(lang, f"telegram.desk.{name_en}"))
            for action, name_id, name_en in DESK_MENU if allowed(grants, action)]


class MenuKeeper:
    """Keeps every Telegram official's chat-scoped command menu in step with their roles."""

    def __init__(self, svc: Services, bot: Bot, config: TelegramConfig,
                 call_retrying: Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]) -> None:
        """`call_retrying`: the channel's start-up call with back-off (TelegramIntake.call_retrying)."""
        self.svc, self.bot, self.config = svc, bot, config
        self.call_retrying = call_retrying
        self.wake = asyncio.Event()
        # channel user -> what this process last set for that chat (None: the worker's menu).
        self.shown: dict[str, Wanted] = {}
        # Chats Telegram refused (e.g. "chat not found": the official never opened the bot):
        # retried every round, logged once per wanted menu.
        self._refused: dict[str, Wanted] = {}

    def changed(self) -> None:
        """A turn committed a change of roles or of an official's language (handlers/turn.py)."""
        self.wake.set()

    async def keep(self) -> None:
        """A channel task: a round now, then on every wake-up and every `menu_refresh_seconds`."""
        while True:
            self.wake.clear()
            try:
                await self.round()
            except Exception:  # noqa: BLE001 - e.g. the database is away: the next round repairs
                log.exception("refreshing the Telegram officials' command menus failed")
            try:
                await asyncio.wait_for(self.wake.wait(), self.config.menu_refresh_seconds)
            except TimeoutError:
                pass

    async def round(self) -> int:
        """Send what differs from what this process last set; returns how many calls it made."""
        async with self.svc.db.session() as session:
            officials = await officials_of_channel(session, "tg")
        wanted: dict[str, Wanted] = {user: (roles, self._language(lang))
                                     for user, (roles, lang) in officials.active.items()}
        for user in officials.former | set(self.shown):
            wanted.setdefault(user, None)
        calls = 0
        for user, menu in sorted(wanted.items()):
            if self.shown.get(user, UNKNOWN) == menu:
                continue
            if calls:
                await asyncio.sleep(1 / self.config.messages_per_second)
            calls += 1
            await self._show(user, menu)
        return calls

    def _language(self, lang: str | None) -> str:
        rules = self.svc.rules
        return lang if lang in rules.languages else rules.default_language

    async def _show(self, user: str, menu: Wanted) -> None:
        try:
            scope = BotCommandScopeChat(chat_id=chat_id_of(user))
        except ValueError:
            self.shown[user] = menu  # not a private chat's id: no menu to show, nothing to retry
            return
        bot = self.bot
        if menu is None:
            call = partial(bot.delete_my_commands, scope=scope)
        else:
            roles, lang = menu
            call = partial(bot.set_my_commands, desk_commands(self.svc.catalog, roles, lang), scope=scope)
        try:
            await self._call(call)
        except (TelegramAPIError, *TRANSIENT) as problem:
            level = logging.DEBUG if self._refused.get(user, UNKNOWN) == menu else logging.INFO
            self._refused[user] = menu
            log.log(level, "command menu of %s not set (%s); trying again later", who(user), problem)
            return
        self._refused.pop(user, None)
        self.shown[user] = menu
        log.debug("command menu of %s: %s", who(user), "worker" if menu is None else ",".join(sorted(menu[0])))

    async def _call(self, call: Any) -> Any:
        """One call, retried like the start-up calls; flood control (429) is waited out."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self.call_retrying(call)
            except TelegramRetryAfter as flood:
                if attempt >= self.config.max_attempts:
                    raise
                await asyncio.sleep(flood.retry_after)
