"""Translation between Telegram and the conversation, on the Bot API's documented payload shapes
(tests/fixtures/telegram) and its limits (4,096 characters, 64-byte callback data)."""

from __future__ import annotations

import pytest
from aiogram.types import InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update

from bot.telegram.adapter import (
    CALLBACK_DATA_LIMIT,
    COMMANDS,
    TEXT_LIMIT,
    Labels,
    channel_user_of,
    inbound_of,
    render,
    split_text,
    tg_len,
    to_html,
)
from conversations.events import Button, ButtonPress, ContactShared, Media, Reply, Text
from conversations.registration import command_of
from tests.fake_telegram import fixture

LABELS = Labels(share_phone="Bagikan nomor saya", choose="Pilih salah satu:")


def update(name: str) -> Update:
    return Update.model_validate(fixture(name))


@pytest.mark.parametrize(("name", "event"), [
    ("message_text", Text("halo")),
    ("command_start", Text("/start")),
    # The deep link's parameter goes apart, unverified (handlers/links.py reads it).
    ("command_start_deep_link", Text("/start", link="nagari_1303052001")),
    ("callback_query", ButtonPress("lang:id")),
    ("contact_own", ContactShared("+6281234567890", is_own=True)),
    ("contact_other", ContactShared("+6281398765432", is_own=False)),
    ("contact_no_user_id", ContactShared("+6281398765432", is_own=False)),
    ("photo", Media("photo", "tg:700000001:108:caption", "ini KTP saya")),
    ("sticker", Media("sticker", "tg:700000001:109")),
    ("voice", Media("voice", "tg:700000001:110:caption")),
    ("location", Media("location", "tg:700000001:111")),
    ("document", Media("document", "tg:700000001:112:caption")),
])
def test_updates_become_the_conversations_events(name: str, event: object) -> None:
    assert channel_user_of(update(name)) == "tg:700000001"
    assert inbound_of(update(name)) == event


@pytest.mark.parametrize("name", ["group_message", "edited_message"])
def test_updates_the_bot_does_not_serve_have_no_person(name: str) -> None:
    assert channel_user_of(update(name)) is None


@pytest.mark.parametrize("name", ["message_text", "callback_query", "contact_own", "photo"])
def test_a_recorded_update_reads_back_the_same(name: str) -> None:
    """The inbox stores aiogram's dump of the update; decoding it later must give the same event."""
    original = update(name)
    stored = original.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert inbound_of(Update.model_validate(stored)) == inbound_of(original)


def test_every_menu_command_is_a_command_the_flow_knows() -> None:
    for commands in COMMANDS.values():
        for name in commands:
            assert command_of(f"/{name}") is not None, name


def test_long_text_is_split_on_line_boundaries_within_the_limit() -> None:
    lines = [f"Baris {n}: " + "kata " * 30 for n in range(60)]
    chunks = split_text("\n".join(lines))
    assert len(chunks) > 1
    assert all(tg_len(chunk) <= TEXT_LIMIT for chunk in chunks)
    assert "\n".join(chunks).split("\n") == [line.strip("\n") for line in lines]


def test_a_line_longer_than_the_limit_is_cut_counting_utf16() -> None:
    text = "😀" * 3000  # 6,000 UTF-16 units
    chunks = split_text(text)
    assert all(tg_len(chunk) <= TEXT_LIMIT for chunk in chunks)
    assert "".join(chunks) == text


def test_buttons_become_an_inline_keyboard_on_the_last_message() -> None:
    reply = Reply("q", "Pertanyaan", (Button("yn:yes", "Ya"), Button("yn:no", "Tidak"), Button("cmd:help", "Bantuan")))
    [message] = render(reply, LABELS, contact_keyboard_shown=False)
    assert isinstance(message.markup, InlineKeyboardMarkup)
    assert [[b.callback_data for b in row] for row in message.markup.inline_keyboard] == [["yn:yes", "yn:no"], ["cmd:help"]]


def test_long_button_titles_go_one_per_row() -> None:
    reply = Reply("q", "Pekerjaan?", (Button("cat:petani", "Petani/pekebun"), Button("cat:guru_mengaji", "Guru mengaji/TPQ di surau")))
    [message] = render(reply, LABELS, contact_keyboard_shown=False)
    assert [len(row) for row in message.markup.inline_keyboard] == [1, 1]  # type: ignore[union-attr]


def test_callback_data_over_64_bytes_is_refused() -> None:
    reply = Reply("q", "?", (Button("x" * (CALLBACK_DATA_LIMIT + 1), "Terlalu panjang"),))
    with pytest.raises(ValueError):
        render(reply, LABELS, contact_keyboard_shown=False)


def test_phone_question_shows_the_share_contact_keyboard_and_buttons_apart() -> None:
    reply = Reply("phone.prompt", "Nomor HP Anda?", (Button("cmd:back", "Kembali"),), request_contact=True)
    first, second = render(reply, LABELS, contact_keyboard_shown=False)
    assert isinstance(first.markup, ReplyKeyboardMarkup)
    assert first.markup.keyboard[0][0].request_contact and first.markup.one_time_keyboard
    assert second.text == LABELS.choose and isinstance(second.markup, InlineKeyboardMarkup)


def test_the_message_after_the_contact_step_removes_the_keyboard() -> None:
    reply = Reply("income.prompt", "Penghasilan?", (Button("inc:1000000", "≤ Rp 1 juta"),))
    first, second = render(reply, LABELS, contact_keyboard_shown=True)
    assert isinstance(first.markup, ReplyKeyboardRemove)
    assert isinstance(second.markup, InlineKeyboardMarkup)


def test_documents_and_images_are_files_with_a_caption() -> None:
    [message] = render(Reply("export", "Data Anda", document="/tmp/data.csv"), LABELS, False)
    assert (message.document, message.text) == ("/tmp/data.csv", "Data Anda")
    messages = render(Reply("poster", "x\n" * 700, image="/tmp/poster.png"), LABELS, False)
    assert messages[-1].image == "/tmp/poster.png" and messages[-1].text == ""


def test_bold_is_shown_and_everything_else_escaped() -> None:
    assert to_html("program *Satu Nagari* <b>&") == "program <b>Satu Nagari</b> &lt;b&gt;&amp;"
