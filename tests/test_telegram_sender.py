"""The one Telegram sender against the fake Bot API: limits, 429, transient errors, 403, files.

Times are the fake server's own arrival times (it stands in for Telegram's clock); the
assertions are lower bounds the platform demands, never speed."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from conversations.events import Button, Reply
from handlers.delivery import Priority
from handlers.services import Services
from storage.models import Person
from tests.fake_telegram import FakeTelegram, fast_limits, running_bot


async def test_429_waits_exactly_retry_after_then_retries(svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(svc, fake, webhook=True) as bot:
        fake.fail("sendMessage", 429, retry_after=1)
        person = bot.person()
        await person.say("halo")
        assert person.said("welcome")
        refused, retried = fake.method_calls("sendMessage")
        assert retried.at - refused.at >= 1.0


async def test_transient_errors_are_retried_with_backoff(svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(svc, fake, webhook=True) as bot:
        fake.fail("sendMessage", 502, times=2, description="Bad Gateway")
        person = bot.person()
        await person.say("halo")
        assert person.said("welcome")
        first, second, third = fake.method_calls("sendMessage")
        # backoff_seconds 0.05 in these tests, doubling.
        assert second.at - first.at >= 0.05 and third.at - second.at >= 0.1


async def test_403_marks_the_person_unreachable_without_retrying(svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(svc, fake, webhook=True) as bot:
        person = bot.person()
        await person.say("halo")
        fake.fail("sendMessage", 403, description="Forbidden: bot was blocked by the user")
        before = len(fake.method_calls("sendMessage"))
        result = await svc.senders["tg"].send(person.channel_user, Reply("status.none", "Belum ada pendaftaran."))
        assert (result.ok, result.unreachable, result.permanent) == (False, True, True)
        assert len(fake.method_calls("sendMessage")) == before + 1
        async with svc.db.session() as session:
            unreachable = (await session.execute(
                select(Person.unreachable).where(Person.channel_user == person.channel_user))).scalar_one()
        assert unreachable is True


async def test_a_bad_request_is_permanent(svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(svc, fake, webhook=True):
        fake.fail("sendMessage", 400, description="Bad Request: chat not found")
        result = await svc.senders["tg"].send("tg:700000001", Reply("k", "halo"))
        assert (result.ok, result.permanent, result.unreachable) == (False, True, False)
        assert len(fake.method_calls("sendMessage")) == 1


async def test_one_chat_gets_about_one_message_per_interval(svc: Services, fake: FakeTelegram) -> None:
    config = fast_limits(per_chat_interval_seconds=0.3, per_chat_burst=1)
    async with running_bot(svc, fake, webhook=True, config=config):
        sender = svc.senders["tg"]
        for n in range(3):
            assert (await sender.send("tg:700000001", Reply("k", f"pesan {n}"))).ok
        times = [c.at for c in fake.method_calls("sendMessage")]
        assert all(later - earlier >= 0.25 for earlier, later in zip(times, times[1:]))


async def test_replies_go_ahead_of_bulk_sends(svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(svc, fake, webhook=True, config=fast_limits(messages_per_second=5)):
        sender = svc.senders["tg"]
        bulk = [asyncio.create_task(sender.send(f"tg:{800 + n}", Reply("campaign", f"kampanye {n}"), Priority.BULK))
                for n in range(12)]
        await asyncio.sleep(0.05)  # the first second's 5 tokens are gone; the rest of the bulk waits
        assert (await sender.send("tg:999", Reply("k", "jawaban"), Priority.REPLY)).ok
        order = [c.chat_id for c in fake.method_calls("sendMessage")]
        assert order.index(999) <= 6, order
        await asyncio.gather(*bulk)
        assert len(order) < len(fake.method_calls("sendMessage")) == 13


async def test_long_text_arrives_in_pieces_with_the_buttons_last(svc: Services, fake: FakeTelegram) -> None:
    async with running_bot(svc, fake, webhook=True):
        text = "\n".join(f"Baris {n}: " + "data " * 40 for n in range(40))
        reply = Reply("mydata.text", text, (Button("cmd:help", "Bantuan"),))
        assert (await svc.senders["tg"].send("tg:700000001", reply)).ok
        pieces = fake.method_calls("sendMessage")
        assert len(pieces) == 3 and all(len(p.text) <= 4096 for p in pieces)
        assert [p.buttons for p in pieces] == [[], [], ["cmd:help"]]


async def test_documents_are_sent_as_files(svc: Services, fake: FakeTelegram, tmp_path: Path) -> None:
    export = tmp_path / "pendaftaran.csv"
    export.write_text("reference,status\nSJ-ABC234,pending\n", encoding="utf-8")
    async with running_bot(svc, fake, webhook=True):
        sender = svc.senders["tg"]
        assert (await sender.send("tg:700000001", Reply("export.ready", "Data pendaftaran", document=str(export)))).ok
        [call] = fake.method_calls("sendDocument")
        assert call.text == "Data pendaftaran" and call.params["document"].startswith("attach://")
        missing = await sender.send("tg:700000001", Reply("export.ready", "x", document=str(tmp_path / "none.csv")))
        assert (missing.ok, missing.permanent) == (False, True)


async def test_a_forward_is_copied_with_the_text_as_caption_or_followed_by_it(svc: Services,
                                                                               fake: FakeTelegram) -> None:
    line = Reply("handover.official.forwarded", "📎 T7 · pekerja: foto\n\nBalas: /balas T7 teks")
    async with running_bot(svc, fake, webhook=True):
        sender = svc.senders["tg"]
        # Media that carry a caption: the text is the copy's caption, one message, the one the
        # official answers by replying to.
        result = await sender.send("tg:9002", replace(line, forward="tg:700000001:108:caption"), Priority.NOTIFY)
        (copy,) = fake.sent(chat_id=9002)
        assert (copy.method, copy.params["from_chat_id"], copy.params["message_id"]) == ("copyMessage", 700000001, 108)
        assert copy.text == line.text and result.ok and result.message_id == str(max(fake.messages))
        # A text too long for a caption: its first part is the caption (never the person's own),
        # the rest follows.
        long = replace(line, text=line.text + "\n" + "kata " * 250, forward="tg:700000001:108:caption")
        assert (await sender.send("tg:9002", long, Priority.NOTIFY)).ok
        copy, text = fake.sent(chat_id=9002)[1:]
        assert copy.params["caption"].startswith("📎 T7") and text.method == "sendMessage"
        assert (copy.text + "\n" + text.text).split() == long.text.split()
        # Media without a caption (a sticker, a location): the copy, then the text.
        assert (await sender.send("tg:9002", replace(line, forward="tg:700000001:109"), Priority.NOTIFY)).ok
        copy, text = fake.sent(chat_id=9002)[3:]
        assert "caption" not in copy.params and text.text == line.text
        # The worker deleted it meanwhile: Telegram will not copy it; the line still goes.
        fake.fail("copyMessage", 400, description="Bad Request: message to copy not found")
        assert (await sender.send("tg:9002", replace(line, forward="tg:700000001:110:caption"), Priority.NOTIFY)).ok
        assert [c.method for c in fake.sent(chat_id=9002)[5:]] == ["copyMessage", "sendMessage"]
        # Another channel's reference, or one that is not Telegram's shape: the text alone.
        for ref in ("wa:image:1548734209012345", "tg:abc:1", "tg:1:-2", "tg:1:2:other"):
            assert (await sender.send("tg:9002", replace(line, forward=ref), Priority.NOTIFY)).ok
        assert [c.method for c in fake.sent(chat_id=9002)[7:]] == ["sendMessage"] * 4
