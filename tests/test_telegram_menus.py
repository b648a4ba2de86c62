"""Officials see their own commands in Telegram's menu: a chat-scoped setMyCommands per official,
made of their roles' commands in their language, set at start-up, when an invitation is taken
and when their language changes; deleteMyCommands when their grants are revoked (also from the
command line, by another process). Workers keep the default menu. Through aiogram's real HTTP
session against the fake Bot API server."""

from __future__ import annotations

import argparse
import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest

from bot.telegram.menus import DESK_MENU, desk_commands
from conversations.events import Text
from conversations.handover import COMMAND_WORDS as TICKET_WORDS
from conversations.handover import parse_ticket_command
from handlers.officials.commands import WORDS as COMMAND_WORDS
from handlers.officials.commands import parse as parse_command
from handlers.roles import grant
from handlers.services import Services
from tests import conftest
from tests.fake_telegram import Call, FakeTelegram, fast_limits, running_bot
from tests.officials_support import ADMIN, OPERATOR, VIEWER, add_officials
from tests.test_programme_withdrawal import set_lang

COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")  # Bot API: BotCommand.command


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (a bounded number of short sleeps) for something the bot does in the background."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def chat_calls(fake: FakeTelegram, method: str, user: str) -> list[Call]:
    chat_id = int(user.split(":")[1])
    return [c for c in fake.method_calls(method)
            if isinstance(c.params.get("scope"), dict) and c.params["scope"] == {"type": "chat", "chat_id": chat_id}]


def menu_of(fake: FakeTelegram, user: str) -> dict[str, str]:
    """The last chat-scoped menu set for `user`: command -> description."""
    calls = chat_calls(fake, "setMyCommands", user)
    assert calls, f"no menu set for {user}"
    return {c["command"]: c["description"] for c in calls[-1].params["commands"]}


def test_every_menu_command_is_one_the_bot_answers(svc: Services) -> None:
    broadcast_words = {word.lstrip("/") for word in svc.config.campaigns.commands}
    for action, name_id, name_en in DESK_MENU:
        for name in (name_id, name_en):
            assert COMMAND_NAME.match(name), name
            command = parse_command(f"/{name}")
            ticket = parse_ticket_command(Text(f"/{name} T1"))
            assert ((command is not None and name in COMMAND_WORDS[command.name]) or name in broadcast_words
                    or (ticket is not None and name in TICKET_WORDS[ticket.name])), name
    for lang in ("id", "en"):
        for command in desk_commands(svc.catalog, frozenset({"admin", "operator", "viewer"}), lang):
            assert 1 <= len(command.description) <= 256
            assert not command.description.startswith("telegram.desk."), command.description


async def test_at_start_up_each_official_gets_a_menu_for_their_roles_in_their_language(
        any_svc: Services, fake: FakeTelegram) -> None:
    await add_officials(any_svc)
    await set_lang(any_svc, ADMIN, "en")
    await set_lang(any_svc, VIEWER, "id")
    # Someone who was an official and is no more: their chat gets the workers' menu back.
    async with any_svc.db.session() as session:
        former = await grant(session, "tg:9099", "viewer", None, "test", any_svc.clock.now())
        former.revoked_at = any_svc.clock.now()
        await session.commit()
    async with running_bot(any_svc, fake) as bot:
        worker = bot.person(user_id=700000001)
        await worker.say("/start")
        await until(lambda: all(chat_calls(fake, "setMyCommands", who) for who in (ADMIN, OPERATOR, VIEWER)),
                    "the officials' menus")
        await until(lambda: bool(chat_calls(fake, "deleteMyCommands", "tg:9099")), "the former official's menu")

    operator = menu_of(fake, OPERATOR)  # no Person row yet: the default language, Indonesian
    assert list(operator)[:3] == ["antrian", "lihat", "setujui"] and list(operator)[-1] == "bantuan"
    assert {"tolak", "perbaiki", "daftarkan", "tarik", "akhiri", "urungkan", "ekspor", "statistik"} <= set(operator)
    assert not {"siaran", "undang", "impor"} & set(operator)
    assert operator["antrian"] == any_svc.catalog.text("id", "telegram.desk.queue")

    admin = menu_of(fake, ADMIN)
    assert {"queue", "approve", "withdraw", "broadcast", "invite", "import", "help"} <= set(admin)
    assert admin["broadcast"] == any_svc.catalog.text("en", "telegram.desk.broadcast")
    assert not {"antrian", "siaran"} & set(admin)

    viewer = menu_of(fake, VIEWER)
    assert set(viewer) == {"antrian", "lihat", "riwayat", "kasus", "kuota", "statistik", "ekspor", "dasbor",
                           "bantuan"}

    # The workers' menu stays the default one, in Indonesian and English; no worker's chat has its own.
    defaults = [c for c in fake.method_calls("setMyCommands") if "scope" not in c.params]
    assert sorted(c.params.get("language_code", "") for c in defaults) == ["", "en", "id"]
    assert chat_calls(fake, "setMyCommands", "tg:700000001") == []
    # Each official's menu was set once (nothing changed after start-up).
    assert len(chat_calls(fake, "setMyCommands", OPERATOR)) == 1


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_taking_an_invitation_sets_the_menu_and_a_new_language_changes_it(
        any_svc: Services, fake: FakeTelegram, lang: str) -> None:
    await add_officials(any_svc)
    await set_lang(any_svc, ADMIN, lang)
    # No periodic round during the test: what happens is the turn's wake-up after its commit.
    async with running_bot(any_svc, fake, config=fast_limits(menu_refresh_seconds=3600)) as bot:
        admin = bot.person(user_id=9001)
        await admin.say("/undang operator Muaro" if lang == "id" else "/invite operator Muaro")
        code = re.search(r"/(?:kode|code) ([A-Z0-9]{8})", admin.replies[-1].text)
        assert code is not None, admin.replies[-1].text
        newcomer = bot.person(user_id=7001)
        await newcomer.say(f"/kode {code.group(1)}")
        assert newcomer.said("official.code.ok"), newcomer.keys
        await until(lambda: bool(chat_calls(fake, "setMyCommands", "tg:7001")), "the newcomer's menu")
        assert {"antrian", "setujui", "bantuan"} <= set(menu_of(fake, "tg:7001"))

        # The new operator switches to English: the menu follows.
        await newcomer.say("bahasa")
        await newcomer.tap("lang:en")
        await until(lambda: len(chat_calls(fake, "setMyCommands", "tg:7001")) == 2, "the menu in English")
        menu = menu_of(fake, "tg:7001")
        assert {"queue", "approve", "help"} <= set(menu)
        assert menu["queue"] == any_svc.catalog.text("en", "telegram.desk.queue")

        # The admin's help lists the broadcast command in their language.
        await admin.say("/bantuan")
        assert ("/siaran" if lang == "id" else "/broadcast") in admin.replies[-1].text


async def test_revoking_on_the_command_line_gives_the_workers_menu_back(
        any_svc: Services, fake: FakeTelegram, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.officials_cli import officials_command

    await add_officials(any_svc)
    async with running_bot(any_svc, fake, config=fast_limits(menu_refresh_seconds=0.05)):
        await until(lambda: bool(chat_calls(fake, "setMyCommands", OPERATOR)), "the operator's menu")
        # Another process (the server's command line) revokes the operator.
        monkeypatch.setenv("BOT_SECRET_KEY", conftest.test_env(tmp_path).secret_key)
        args = argparse.Namespace(config=None, db=str(any_svc.db.engine.url.render_as_string(hide_password=False)),
                                  officials_command="remove", user=OPERATOR, role=None, nagari=None)
        assert await officials_command(args) == 0
        await until(lambda: bool(chat_calls(fake, "deleteMyCommands", OPERATOR)), "the operator's menu removed")
        # ... and gives it back: the menu returns with the next round.
        args = argparse.Namespace(config=None, db=args.db, officials_command="add", user=OPERATOR,
                                  role="operator", nagari="13.03.04.2001")
        assert await officials_command(args) == 0
        await until(lambda: len(chat_calls(fake, "setMyCommands", OPERATOR)) == 2, "the operator's menu again")
    assert len(chat_calls(fake, "deleteMyCommands", OPERATOR)) == 1
    assert chat_calls(fake, "deleteMyCommands", ADMIN) == []


async def test_a_chat_telegram_refuses_is_tried_again_later(svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(svc, fake, config=fast_limits(menu_refresh_seconds=0.05)):
        await until(lambda: len(fake.method_calls("setMyCommands")) == 3, "the workers' menus")
        # The next menu call is refused (e.g. "chat not found": the official never opened the bot).
        fake.fail("setMyCommands", 400, description="Bad Request: chat not found")
        await add_officials(svc)

        def scoped() -> list[Call]:
            return [c for c in fake.method_calls("setMyCommands") if "scope" in c.params]

        await until(lambda: len(scoped()) >= 5, "four menus and the refused one again")
        refused = scoped()[0].params["scope"]["chat_id"]
        assert [c.params["scope"]["chat_id"] for c in scoped()].count(refused) == 2
