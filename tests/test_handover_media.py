"""A worker's photo, voice note or location in a ticket: passed on as it came where the official
is on the worker's channel (Telegram copies the message; WhatsApp sends the media id again),
else a note that it arrived, and only then is the worker told it could not be passed on.
Through the real channels: aiogram against the fake Bot API, pywa against the fake Graph API,
signed webhooks, in Indonesian and English."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from sqlalchemy import select

from handlers.roles import grant
from handlers.services import Services
from storage.tickets import Ticket
from tests.conftest import GOOD_NIK, REGISTRATION
from tests.fake_graph import WA_ID, Recorded, fixture, message, whatsapp_harness
from bot.telegram.intake import INTAKE
from tests.fake_telegram import SECRET, FakeTelegram, TgPerson, running_bot
from tests.fake_telegram import fixture as tg_fixture
from tests.officials_support import ADMIN, OPERATOR, add_officials
from tests.test_programme_withdrawal import set_lang

ASK = {"id": "saya mau bicara dengan petugas", "en": "I want to talk to someone"}
PHOTO = {"id": "foto", "en": "a photo"}
VOICE = {"id": "pesan suara", "en": "a voice note"}
LOCATION = {"id": "lokasi", "en": "a location"}
WA_WORKER = f"wa:{WA_ID}"
WA_OFFICIAL = "6281200000009"
update_ids = itertools.count(610000000)


async def only_ticket(svc: Services) -> Ticket:
    async with svc.db.session() as session:
        (ticket,) = (await session.execute(select(Ticket))).scalars().all()
    return ticket


def fixed_words(svc: Services, lang: str, key: str) -> str:
    """The longest stretch of a catalog text between its placeholders."""
    return max(re.split(r"\{[^{}]*\}", svc.catalog.text(lang, key)), key=len).strip()


async def walk_to_phone(person: TgPerson, lang: str) -> None:
    """The registration up to the phone question: the nagari (Muaro) is known."""
    await person.say("halo")
    for kind, value in REGISTRATION[:REGISTRATION.index(("say", "0812-3456-7890"))]:
        value = f"lang:{lang}" if value == "lang:id" else value
        await (person.tap(value) if kind == "tap" else person.say(value))


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_a_telegram_workers_photo_and_voice_are_copied_to_the_operator(svc: Services, fake: FakeTelegram,
                                                                             lang: str) -> None:
    await add_officials(svc)
    await set_lang(svc, OPERATOR, lang)
    async with running_bot(svc, fake) as bot:
        worker, operator = bot.person(4301), bot.person(int(OPERATOR[3:]))
        await walk_to_phone(worker, lang)
        await worker.say(ASK[lang])
        code = f"T{(await only_ticket(svc)).id}"
        operator.read()

        photo = worker.media_update("photo")
        photo["message"]["caption"] = f"ini KTP saya {GOOD_NIK}"
        await worker.send(photo)
        # The Bot API copies the worker's own message into the operator's chat, in one message:
        # the ticket's line, in the operator's language, is its caption...
        operator.read()
        (copy,) = operator.replies
        assert copy.method == "copyMessage" and copy.chat_id == 9002
        assert (int(copy.params["from_chat_id"]), int(copy.params["message_id"])) == (
            4301, photo["message"]["message_id"])
        line = copy.text
        assert code in line and PHOTO[lang] in line and ("/balas" if lang == "id" else "/reply") in line
        assert fixed_words(svc, lang, "handover.official.media") not in line
        # ... with what the worker wrote, its NIK masked as everywhere (never their caption as it was).
        assert "ini KTP saya" in line and GOOD_NIK not in line and GOOD_NIK[:4] + "*" * 12 in line
        # The worker is told it went to the officials; not that it could not.
        assert worker.said("handover.forwarded") and not worker.said("handover.media_note")

        # The operator answers by replying to the photo itself.
        answer = {"id": "Sudah saya terima, terima kasih.", "en": "Received, thank you."}[lang]
        reply = operator.text_update(answer)
        reply["message"]["reply_to_message"] = fake.messages[max(fake.messages)]
        await operator.send(reply)
        worker.read()
        assert any(answer in c.text for c in worker.replies)

        # Once the operator holds the ticket, a voice note goes to them alone, and the worker
        # is not told anything more.
        voice = worker.media_update("voice")
        assert await worker.send(voice) == []
        copies = fake.method_calls("copyMessage")
        assert len(copies) == 2 and copies[1].chat_id == 9002
        assert int(copies[1].params["message_id"]) == voice["message"]["message_id"]
        operator.read()
        assert [c.method for c in operator.replies] == ["copyMessage"]
        assert VOICE[lang] in operator.replies[0].text and code in operator.replies[0].text

        # A sticker carries no caption: the copy, then the ticket's line.
        await worker.send(worker.media_update("sticker"))
        operator.read()
        assert [c.method for c in operator.replies] == ["copyMessage", "sendMessage"]
        assert "caption" not in operator.replies[0].params and code in operator.replies[1].text


def to(sent: list[Recorded], number: str) -> list[Recorded]:
    return [r for r in sent if r.to == number]


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_a_whatsapp_workers_image_location_and_voice_go_again_to_the_official_on_whatsapp(
        svc: Services, lang: str) -> None:
    async with svc.db.session() as session:
        await grant(session, f"wa:{WA_OFFICIAL}", "admin", None, "test", svc.clock.now())
        await session.commit()
    await set_lang(svc, f"wa:{WA_OFFICIAL}", lang)
    async with whatsapp_harness(svc) as wa:
        # Before the nagari is known the regency desk answers: the admin, on WhatsApp, takes it
        # (and so has written within WhatsApp's 24-hour window).
        await wa.send(message("text", text=ASK[lang]))
        code = f"T{(await only_ticket(svc)).id}"
        await wa.send(message("text", text=f"/ambil {code}", wa_id=WA_OFFICIAL))

        sent = await wa.send(message("image"))
        # The image goes to the official by the media id WhatsApp gave for the worker's
        # message, with the ticket's line as its caption: one message; the worker is not told.
        (image,) = to(sent, WA_OFFICIAL)
        media_id = fixture("image")["entry"][0]["changes"][0]["value"]["messages"][0]["image"]["id"]
        assert image.type == "image" and image.media_id == media_id
        assert code in image.text and PHOTO[lang] in image.text and "foto KTP" in image.text
        assert not to(sent, WA_ID)

        # A location goes by its coordinates, a voice note by its id as a voice note; each is
        # followed by the ticket's line.
        sent = await wa.send(message("location"))
        location, line = to(sent, WA_OFFICIAL)
        assert location.type == "location"
        assert (location.body["location"]["latitude"], location.body["location"]["longitude"]) == (-0.6631, 100.9452)
        assert line.type == "text" and code in line.text and LOCATION[lang] in line.text
        sent = await wa.send(message("audio"))
        audio, line = to(sent, WA_OFFICIAL)
        assert audio.type == "audio" and audio.body["audio"]["id"] == "1182736450098765"
        assert audio.body["audio"].get("voice") is True
        assert code in line.text and VOICE[lang] in line.text
        assert not to(sent, WA_ID)


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_across_channels_the_official_gets_the_note_and_the_worker_is_told(svc: Services, fake: FakeTelegram,
                                                                               lang: str) -> None:
    await add_officials(svc)
    await set_lang(svc, ADMIN, lang)
    async with whatsapp_harness(svc, telegram=fake) as wa:
        await wa.send(message("text", text=ASK[lang]))
        await set_lang(svc, WA_WORKER, lang)
        code = f"T{(await only_ticket(svc)).id}"
        admin_chat = int(ADMIN[3:])
        before = len(fake.sent(chat_id=admin_chat))

        # A WhatsApp voice note cannot reach an official on Telegram: the note, to the admin...
        sent = await wa.send(message("audio"))
        (note,) = fake.sent(chat_id=admin_chat)[before:]
        assert note.method == "sendMessage" and not fake.method_calls("copyMessage")
        assert code in note.text and VOICE[lang] in note.text
        assert fixed_words(svc, lang, "handover.official.media") in note.text
        # ... and the worker is told it could not be passed on.
        assert wa.said(to(sent, WA_ID), "handover.media_note", lang)
        assert not wa.said(to(sent, WA_ID), "handover.forwarded", lang)

        # An admin on WhatsApp as well (who wrote today): the image reaches them as it came,
        # the Telegram admin gets the note, and the worker hears that it was passed on.
        async with svc.db.session() as session:
            await grant(session, f"wa:{WA_OFFICIAL}", "admin", None, "test", svc.clock.now())
            await session.commit()
        await wa.send(message("text", text="/tiket", wa_id=WA_OFFICIAL))
        before = len(fake.sent(chat_id=admin_chat))
        sent = await wa.send(message("image"))
        (image,) = to(sent, WA_OFFICIAL)
        assert image.type == "image" and image.media_id and code in image.text
        (note,) = fake.sent(chat_id=admin_chat)[before:]
        assert PHOTO[lang] in note.text and not fake.method_calls("copyMessage")
        assert wa.said(to(sent, WA_ID), "handover.forwarded", lang)
        assert not wa.said(to(sent, WA_ID), "handover.media_note", lang)


async def test_a_telegram_workers_photo_to_an_official_on_whatsapp_is_the_note(svc: Services,
                                                                               fake: FakeTelegram) -> None:
    async with svc.db.session() as session:
        await grant(session, f"wa:{WA_OFFICIAL}", "admin", None, "test", svc.clock.now())
        await session.commit()
    async with whatsapp_harness(svc, telegram=fake) as wa:
        await wa.send(message("text", text="/tiket", wa_id=WA_OFFICIAL))

        async def post(update: dict[str, Any]) -> list[Recorded]:
            before = len(wa.graph.sent)
            response = await wa.meta.client.post("/telegram/webhook", json=update,
                                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
            assert response.status == 200
            await wa.app[INTAKE].idle()
            return wa.graph.sent[before:]

        def update(name: str, **fields: Any) -> dict[str, Any]:
            body = tg_fixture(name)
            body["update_id"] = next(update_ids)
            body["message"].update(fields)
            return body

        await post(update("message_text", text=ASK["id"]))
        code = f"T{(await only_ticket(svc)).id}"
        sent = await post(update("photo"))
        (note,) = to(sent, WA_OFFICIAL)
        assert note.type == "text" and code in note.text and PHOTO["id"] in note.text and "ini KTP saya" in note.text
        assert not fake.method_calls("copyMessage")
        # The Telegram worker is told it could not be passed on.
        assert any(fixed_words(svc, "id", "handover.media_note") in c.text for c in fake.sent(chat_id=700000001))
