"""Tickets on Telegram end to end (aiogram's real HTTP session against the fake Bot API, through
the webhook): an operator answers a worker by replying to the ticket's message, as Telegram
users answer a message, and closes it with the ticket's button."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from handlers.roles import grant
from handlers.services import Services
from tests.fake_telegram import TOKEN, FakeTelegram, TgPerson, running_bot
from tests.officials_support import MUARO
from tests.test_programme_withdrawal import set_lang
from tests.test_telegram_channel import walk_to_phone

OPERATOR_ID = 700000090


def reply_to(person: TgPerson, text: str, original: Any, bot_id: int) -> dict[str, Any]:
    """A text message that replies to one of the bot's messages (`original`, a call the fake
    recorded), shaped like Telegram's: reply_to_message holds the bot's message."""
    update = person.text_update(text)
    chat = copy.deepcopy(update["message"]["chat"])
    update["message"]["reply_to_message"] = {
        "message_id": 4242, "date": update["message"]["date"] - 60, "chat": chat,
        "from": {"id": bot_id, "is_bot": True, "first_name": "Sijunjung Bot", "username": "SijunjungBot"},
        "text": original.text,
    }
    return update


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_an_operator_answers_by_replying_to_the_tickets_message(any_svc: Services, fake: FakeTelegram,
                                                                      lang: str) -> None:
    async with any_svc.db.session() as session:
        await grant(session, f"tg:{OPERATOR_ID}", "operator", MUARO, "test", any_svc.clock.now())
        await session.commit()
    await set_lang(any_svc, f"tg:{OPERATOR_ID}", lang)
    async with running_bot(any_svc, fake, webhook=True) as bot:
        worker, operator = bot.person(), bot.person(OPERATOR_ID)
        await walk_to_phone(worker)
        phone_question = worker.replies[-1].text
        await worker.say({"id": "saya mau bicara dengan petugas", "en": "talk to someone"}[lang])
        assert worker.said("handover.opened_ask")
        operator.read()
        (ticket_message,) = operator.replies
        assert "T1" in ticket_message.text and ticket_message.buttons == ["tk:take:1", "tk:close:1"]

        await worker.say({"id": "kapan kartu saya jadi?", "en": "when will my card be ready?"}[lang])
        operator.read()
        assert "?" in operator.replies[-1].text

        answer = {"id": "Kartu jadi dua minggu setelah disetujui.", "en": "About two weeks after approval."}[lang]
        await operator.send(reply_to(operator, answer, ticket_message, int(TOKEN.split(":")[0])))
        assert operator.said("handover.sent")
        worker.read()
        assert worker.said("handover.worker.taken") and worker.said("handover.worker.answer")
        assert any(answer in reply.text for reply in worker.replies)

        await operator.tap("tk:close:1", check=False)
        assert operator.said("handover.closed")
        worker.read()
        assert worker.said("handover.worker.closed") and worker.replies[-1].text == phone_question
