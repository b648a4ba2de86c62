"""The JSON session (bot/telegram/session.py): what it sends is what aiogram's own form would
send, over real HTTP to the fake Bot API, with aiogram's errors and results unchanged."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.methods import (
    CopyMessage,
    EditMessageText,
    SendDocument,
    SendMessage,
    SetMyCommands,
    TelegramMethod,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LinkPreviewOptions,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.telegram.session import JsonSession
from tests.fake_telegram import FakeTelegram

TOKEN = "123456789:AAJsonSessionTestToken-abcdefghijkl"
KEYBOARD = InlineKeyboardMarkup(inline_keyboard=[
    [InlineKeyboardButton(text="Ya, setuju", callback_data="consent:yes"),
     InlineKeyboardButton(text="Tidak", callback_data="consent:no")],
    [InlineKeyboardButton(text="Baca <selengkapnya> & \"lagi\"", callback_data="consent:more")]])
METHODS: list[TelegramMethod[Any]] = [
    SendMessage(chat_id=700000001, text="<b>Halo</b>, Uda! Nagari Koto Tuo — ✓", parse_mode=ParseMode.HTML,
                reply_markup=KEYBOARD),
    SendMessage(chat_id=700000001, text="Bagikan nomor", reply_markup=ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="Kirim nomor saya", request_contact=True)]], one_time_keyboard=True,
        resize_keyboard=True)),
    SendMessage(chat_id=-100123, text="lanjut", reply_markup=ReplyKeyboardRemove(),
                link_preview_options=LinkPreviewOptions(is_disabled=True), disable_notification=False),
    EditMessageText(chat_id=700000001, message_id=42, text="Terkirim 50 dari 120", reply_markup=KEYBOARD),
    CopyMessage(chat_id=700000002, from_chat_id=700000001, message_id=7, caption="foto KTP"),
    SetMyCommands(commands=[BotCommand(command="start", description="Mulai pendaftaran")],
                  scope=BotCommandScopeChat(chat_id=700000001), language_code="id"),
]


def form_fields(session: AiohttpSession, bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any]:
    """aiogram's own form for the method, each JSON-encoded field read back."""
    fields: dict[str, Any] = {}
    for options, _, value in session.build_form_data(bot, method)._fields:
        try:
            fields[options["name"]] = json.loads(value)
        except ValueError:
            fields[options["name"]] = value
    return fields


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.__api_method__)
@pytest.mark.parametrize("defaults", [None, DefaultBotProperties(parse_mode=ParseMode.HTML, protect_content=True)],
                         ids=["no-defaults", "defaults"])
async def test_the_json_body_says_what_aiograms_form_says(method: TelegramMethod[Any],
                                                          defaults: DefaultBotProperties | None) -> None:
    session = JsonSession()
    bot = Bot(TOKEN, session=session, default=defaults)
    try:
        body = session.json_body(bot, method)
        assert body is not None
        sent = json.loads(body)
        expected = form_fields(session, bot, method)
        # The form carries numbers as text; JSON carries them as numbers.
        assert {k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in sent.items()} \
            == {k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in expected.items()}
        if defaults is not None and "protect_content" in type(method).model_fields:
            assert sent["protect_content"] is True  # the bot's default filled in
    finally:
        await session.close()


async def test_dates_go_as_unix_times() -> None:
    session = JsonSession()
    bot = Bot(TOKEN, session=session)
    from aiogram.methods import BanChatMember
    until = datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc)
    try:
        sent = json.loads(session.json_body(bot, BanChatMember(chat_id=-100, user_id=5, until_date=until)) or b"")
        assert sent == {"chat_id": -100, "user_id": 5, "until_date": 1798761600}
    finally:
        await session.close()


async def test_a_file_goes_as_aiograms_multipart_form(tmp_path: Path, fake: FakeTelegram) -> None:
    document = tmp_path / "daftar.csv"
    document.write_text("nik,nama\n", encoding="utf-8")
    session = JsonSession(api=TelegramAPIServer.from_base(fake.url))
    bot = Bot(TOKEN, session=session)
    try:
        method = SendDocument(chat_id=700000001, document=FSInputFile(document), caption="Daftar")
        assert session.json_body(bot, method) is None
        await bot(method)
        call, = fake.method_calls("sendDocument")
        assert call.content_type == "multipart/form-data"
        attached = call.params["document"].removeprefix("attach://")
        assert call.params[attached] == {"filename": "daftar.csv"}
    finally:
        await session.close()


async def test_over_http_the_bot_api_gets_json_and_aiogram_reads_its_answers(fake: FakeTelegram) -> None:
    session = JsonSession(api=TelegramAPIServer.from_base(fake.url))
    bot = Bot(TOKEN, session=session)
    try:
        message = await bot(METHODS[0])
        call, = fake.method_calls("sendMessage")
        assert call.content_type == "application/json"
        assert call.params["reply_markup"] == KEYBOARD.model_dump(exclude_none=True)
        assert call.params["text"] == "<b>Halo</b>, Uda! Nagari Koto Tuo — ✓"
        assert message.message_id > 0 and message.chat.id == 700000001
        assert message.reply_markup is not None
        assert message.reply_markup.model_dump(exclude_none=True) == KEYBOARD.model_dump(exclude_none=True)
        fake.fail("sendMessage", 429, retry_after=3)
        with pytest.raises(TelegramRetryAfter) as limited:
            await bot(METHODS[0])
        assert limited.value.retry_after == 3
        fake.fail("sendMessage", 403, description="Forbidden: bot was blocked by the user")
        with pytest.raises(TelegramForbiddenError):
            await bot(METHODS[0])
    finally:
        await session.close()


async def test_the_running_bot_sends_its_replies_as_json(svc: Any, fake: FakeTelegram) -> None:
    from tests.fake_telegram import running_bot

    async with running_bot(svc, fake, webhook=True) as bot:
        person = bot.person()
        await person.say("halo")
        assert person.said("welcome")
    replies = fake.sent(person.user_id)
    assert replies and {call.content_type for call in replies} == {"application/json"}
