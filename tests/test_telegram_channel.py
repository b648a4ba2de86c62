"""The Telegram channel end to end: aiogram's real HTTP session against the fake Bot API server,
through long polling and through the webhook, with the registration conversation behind it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from handlers.services import Services
from storage.inbox import InboundUpdate
from storage.models import Registration
from storage.repo import Repository
from tests.conftest import REGISTRATION
from tests.fake_telegram import SECRET, FakeTelegram, TgPerson, fixture, running_bot


async def step_of(svc: Services, person: TgPerson) -> str:
    async with svc.db.session() as session:
        return (await Repository(session, svc.cipher).load_state(person.channel_user)).step


async def inbox_rows(svc: Services) -> int:
    async with svc.db.session() as session:
        return (await session.execute(select(func.count()).select_from(InboundUpdate))).scalar_one()


async def walk_to_phone(person: TgPerson) -> None:
    await person.say("halo")
    for kind, value in REGISTRATION[:REGISTRATION.index(("say", "0812-3456-7890"))]:
        await (person.tap(value) if kind == "tap" else person.say(value))


async def register_on_telegram(svc: Services, person: TgPerson) -> str:
    """The whole registration as a Telegram user does it: taps, typing, and the phone shared
    with the "share my number" button."""
    await walk_to_phone(person)
    assert person.replies[-1].asks_contact, "the phone question shows the share-contact keyboard"
    await person.share_contact("6281234567890")
    assert person.replies[0].removes_keyboard, "the next message removes the contact keyboard"
    after_phone = REGISTRATION.index(("say", "0812-3456-7890")) + 1
    for kind, value in REGISTRATION[after_phone:]:
        await (person.tap(value) if kind == "tap" else person.say(value))
    assert person.said("summary.prompt"), person.keys
    await person.tap("sum:send")
    assert person.said("submit.done"), person.keys
    reference = re.search(r"SJ-[A-Z0-9]{6}", "\n".join(c.text for c in person.replies))
    assert reference is not None
    async with svc.db.session() as session:
        registration = (await session.execute(select(Registration))).scalar_one()
    assert registration.reference == reference.group(0)
    assert registration.phone == "+6281234567890"
    assert registration.channel_user == person.channel_user
    return reference.group(0)


async def test_complete_registration_through_long_polling(svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(svc, fake) as bot:
        person = bot.person()
        await register_on_telegram(svc, person)
        # Every tap was answered (the spinner stops), and every update was handled once.
        assert len(fake.method_calls("answerCallbackQuery")) == sum(1 for kind, _ in REGISTRATION if kind == "tap") + 1
        assert len(fake.method_calls("deleteWebhook")) == 1


async def test_complete_registration_through_the_webhook(any_svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(any_svc, fake, webhook=True) as bot:
        await register_on_telegram(any_svc, bot.person())
        # The webhook answered callback queries in its responses, so none reached the API.
        assert fake.method_calls("getUpdates") == []


async def test_command_menu_registered_in_indonesian_and_english(svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(svc, fake) as bot:
        await bot.person().say("/start")
    languages = sorted(c.params.get("language_code", "") for c in fake.method_calls("setMyCommands"))
    assert languages == ["", "en", "id"]


async def test_contact_of_someone_else_is_refused(svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(svc, fake) as bot:
        person = bot.person()
        await walk_to_phone(person)
        await person.share_contact("6281398765432", own=False)
        assert person.said("phone.contact_not_own"), person.keys
        assert await step_of(svc, person) == "phone"
        await person.share_contact("6281234567890")
        assert await step_of(svc, person) != "phone"


async def test_wrong_or_missing_secret_is_refused_and_nothing_recorded(svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(svc, fake, webhook=True) as bot:
        person = bot.person()
        update = person.text_update("halo")
        assert await person.post(update, secret="not-the-secret") == 401
        assert await person.post(update, secret=None) == 401
        await bot.settle()
        assert await inbox_rows(svc) == 0
        assert fake.sent() == []
        assert await person.post(update, secret=SECRET) == 200
        await bot.settle()
        assert await inbox_rows(svc) == 1


async def test_same_update_twice_is_handled_once(svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(svc, fake, webhook=True) as bot:
        person = bot.person()
        update = person.text_update("halo")
        # Telegram resends when it saw no 200 in time: both copies are acknowledged.
        assert await person.send(update, update) != []
        assert await person.send(update) == []
        assert len(fake.sent()) == 1
        assert await inbox_rows(svc) == 1


async def test_a_batch_from_one_person_is_handled_in_order(svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(svc, fake) as bot:
        person = bot.person()
        # One getUpdates batch: each step must see the state the previous one left.
        keys = await person.send(person.text_update("halo"), person.tap_update("lang:id"),
                                 person.tap_update("consent:yes"), person.tap_update("yn:yes"))
        assert not person.said("button.stale"), keys
        assert [k for k in keys if "welcome" in k or "consent.prompt" in k] == keys[:2]
        assert await step_of(svc, person) == "elig_member"


async def test_webhook_updates_arriving_together_are_handled_in_order(any_svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(any_svc, fake, webhook=True) as bot:
        person = bot.person()
        updates = [person.text_update("halo"), person.tap_update("lang:id"), person.tap_update("consent:yes")]
        for update in updates:  # each acknowledged at once; handling runs behind
            assert await person.post(update, SECRET) == 200
        await bot.settle()
        person.read()
        assert not person.said("button.stale"), person.keys
        assert await step_of(any_svc, person) == "elig_domicile"


async def test_different_people_are_handled_concurrently(svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(svc, fake, webhook=True) as bot:
        people = [bot.person(user_id=700000100 + n) for n in range(5)]
        for person in people:
            assert await person.post(person.text_update("halo"), SECRET) == 200
        await bot.settle()
        for person in people:
            person.read()
            assert person.said("welcome"), person.keys


async def test_an_old_button_is_answered_not_crashed(svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(svc, fake) as bot:
        person = bot.person()
        await person.say("halo")
        await person.tap("lang:id")
        await person.tap("lang:en", check=False)  # from the first message, no longer current
        assert person.said("button.stale"), person.keys
        assert len(fake.method_calls("answerCallbackQuery")) == 2
        assert await step_of(svc, person) == "consent"


@pytest.mark.parametrize("kind", ["photo", "sticker", "voice", "location", "document"])
async def test_media_is_answered_kindly(svc: Services, fake: FakeTelegram, kind: str) -> None:
    async with running_bot(svc, fake, webhook=True) as bot:
        person = bot.person()
        await person.say("halo")
        await person.send(person.media_update(kind))
        assert person.said("media.unsupported"), person.keys


async def test_group_messages_and_edits_are_ignored(svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(svc, fake, webhook=True) as bot:
        person = bot.person()
        for name in ("group_message", "edited_message"):
            assert await person.post(fixture(name), SECRET) == 200
        await bot.settle()
        # Recorded as every authenticated update is, then handled without an answer.
        async with svc.db.session() as session:
            rows = (await session.execute(select(InboundUpdate))).scalars().all()
        assert len(rows) == 2
        assert all(row.handled_at is not None and row.set_aside_reason is None for row in rows)
        assert fake.sent() == []


async def test_commands_in_telegram_syntax_reach_the_flow(svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(svc, fake) as bot:
        person = bot.person()
        await person.say("/start@SijunjungBpjsBot")
        assert person.said("welcome"), person.keys
        await person.tap("lang:en")
        await person.say("/status")
        assert person.said("status.none") or person.said("status.text"), person.keys


async def test_healthz_is_served_with_the_webhook(svc: Services, fake: FakeTelegram) -> None:
    from aiohttp import ClientSession

    async with running_bot(svc, fake, webhook=True) as bot:
        async with ClientSession() as session:
            async with session.get(bot.webhook.replace("/telegram/webhook", "/healthz")) as response:
                assert response.status == 200
                assert sorted((await response.json())["channels"]) == ["tg"]


async def test_polling_sets_an_undecodable_update_aside_and_goes_on(svc: Services, fake: FakeTelegram) -> None:
    """In polling mode too: an update aiogram's model cannot read (no chat.type) is recorded,
    set aside, and confirmed; the next one is handled as usual."""
    async with running_bot(svc, fake) as bot:
        person = bot.person()
        odd = person.text_update("halo")
        del odd["message"]["chat"]["type"]
        fake.push(odd)
        keys = await person.say("halo")
        assert person.said("welcome"), keys
        async with svc.db.session() as session:
            rows = {row.update_key: row for row in (await session.execute(select(InboundUpdate))).scalars()}
        assert rows[str(odd["update_id"])].set_aside_reason
        assert fake.confirmed_offset > odd["update_id"]


async def test_polling_a_link_preview_message_is_answered(svc: Services, fake: FakeTelegram) -> None:
    """link_preview_options used to make recording fail (aiogram's model dump); recorded as JSON
    it is an ordinary message."""
    async with running_bot(svc, fake) as bot:
        person = bot.person()
        update = person.text_update("halo https://bpjsketenagakerjaan.go.id")
        update["message"]["link_preview_options"] = {"is_disabled": True}
        await person.send(update)
        assert person.said("welcome"), person.keys


async def _post_body(url: str, body: bytes) -> int:
    from aiohttp import ClientSession

    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    async with ClientSession() as session, session.post(url, data=body, headers=headers) as response:
        await response.read()
        return response.status


async def test_a_webhook_body_is_recorded_as_it_came(svc: Services, fake: FakeTelegram) -> None:
    from storage.inbox import pending_for

    async with running_bot(svc, fake, webhook=True) as bot:
        person = bot.person()
        # Spaced and escaped as no JSON writer of ours would: what is stored is this very text.
        body = json.dumps(person.text_update("halo, Uda Rahmat é"), indent=2, ensure_ascii=True)
        async with svc.locks.hold(person.channel_user):  # the person's turn waits meanwhile
            assert await _post_body(bot.webhook or "", body.encode()) == 200
            (row,) = await pending_for(svc.db, person.channel_user)
            assert row.payload_enc is not None and svc.cipher.decrypt(row.payload_enc) == body
            svc.fresh.clear()  # the turn reads the update back from the inbox, as after a restart
        await bot.settle()
        person.read()
        assert person.said("welcome")


@pytest.mark.parametrize("encode", [lambda text: text.encode("utf-16"), lambda text: b"\xef\xbb\xbf" + text.encode()],
                         ids=["utf-16", "utf-8 with a byte-order mark"])
async def test_a_webhook_body_in_another_json_encoding_is_recorded_and_answered(
        svc: Services, fake: FakeTelegram, encode: Any) -> None:
    async with running_bot(svc, fake, webhook=True) as bot:
        person = bot.person()
        async with svc.locks.hold(person.channel_user):
            assert await _post_body(bot.webhook or "", encode(json.dumps(person.text_update("halo")))) == 200
            svc.fresh.clear()  # read back from the inbox, as after a restart
        await bot.settle()
        person.read()
        assert person.said("welcome")
