"""The WhatsApp sender: the 24-hour window and templates, Cloud API error codes, priorities,
rendering of choices and media. pywa's real client against the fake Graph API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.whatsapp.adapter import Labels, render, shorten, split_text
from bot.whatsapp.config import RenderLimits
from bot.ratelimit import PriorityGate
from bot.whatsapp.sender import SpamFlag
from conversations.events import Button, Reply
from handlers.delivery import Priority
from storage.whatsapp import OutboundMessage
from tests.fake_graph import WA_ID, Harness, message, whatsapp_harness
from tests.test_whatsapp_template_sending import approve

PERSON = f"wa:{WA_ID}"
REMINDER = Reply("reminder.unfinished.first", "Pendaftaran Anda SJ-ABC234 belum lengkap.\nKetik *lanjut* untuk melanjutkan.")


@pytest.fixture
async def wa(svc, clock) -> AsyncIterator[Harness]:
    async with whatsapp_harness(svc) as harness:
        await approve(svc, kinds=("reminder", "status_notice"))  # Meta approved these two
        await harness.sender.refresh_templates()
        await harness.send(message(text="halo"))  # the person wrote: their window opens now
        harness.graph.sent.clear()
        yield harness


async def outbound(svc) -> list[OutboundMessage]:
    async with svc.db.session() as session:
        return list((await session.execute(select(OutboundMessage).order_by(OutboundMessage.id))).scalars())


# -- the 24-hour window ---------------------------------------------------------------------------
async def test_inside_the_window_a_reminder_goes_free_form(wa: Harness) -> None:
    result = await wa.sender.send(PERSON, REMINDER, Priority.BULK, template="reminder")
    assert result.ok and [r.type for r in wa.graph.sent] == ["text"]


async def test_outside_the_window_a_reminder_becomes_its_template(wa: Harness, clock) -> None:
    clock.advance(timedelta(hours=25))
    result = await wa.sender.send(PERSON, REMINDER, Priority.BULK, template="reminder")
    assert result.ok and result.message_id
    [sent] = wa.graph.sent
    template = sent.body["template"]
    assert sent.type == "template" and template["name"] == "pengingat_pendaftaran"
    assert template["language"] == {"code": "id"}
    params = [p["text"] for p in template["components"][0]["parameters"]]
    # Short values read from the database, never the message flattened onto one line.
    assert len(params) == 2 and all("\n" not in p and len(p) <= 60 for p in params)
    assert "Ketik" not in " ".join(params)


async def test_a_notice_is_matched_to_its_template_by_message_key(wa: Harness, clock) -> None:
    clock.advance(timedelta(hours=30))
    result = await wa.sender.send(PERSON, Reply("official.worker.approved", "Disetujui: SJ-ABC234"), Priority.NOTIFY)
    assert result.ok and wa.graph.sent[0].body["template"]["name"] == "kabar_pendaftaran"


async def test_outside_the_window_without_an_approved_template_nothing_is_sent(wa: Harness, clock) -> None:
    clock.advance(timedelta(hours=24, minutes=1))
    result = await wa.sender.send(PERSON, Reply("campaign.message", "Ayo daftar!"), Priority.BULK, template="campaign")
    assert not result.ok and result.needs_template and wa.graph.sent == []


async def test_someone_who_never_wrote_is_outside_the_window(wa: Harness) -> None:
    result = await wa.sender.send("wa:6281299990000", REMINDER, Priority.BULK, template="reminder")
    assert result.ok and [r.type for r in wa.graph.sent] == ["template"]


async def test_wait_policy_holds_the_message_until_the_person_writes(wa: Harness, svc, clock) -> None:
    wa.sender.config = wa.sender.config.model_copy(update={"window_policy": "wait"})
    clock.advance(timedelta(hours=30))
    result = await wa.sender.send(PERSON, REMINDER, Priority.BULK, template="reminder")
    assert result.ok and result.message_id is None and wa.graph.sent == []
    assert [(r.status, r.kind) for r in await outbound(svc)][-1] == ("waiting", "held")
    sent = await wa.send(message(text="halo"))
    assert sent[-1].text == REMINDER.text  # after the replies to what they wrote
    assert (await outbound(svc))[1].status == "released"


async def test_a_held_message_expires(wa: Harness, svc, clock) -> None:
    wa.sender.config = wa.sender.config.model_copy(update={"window_policy": "wait", "wait_max_hours": 48})
    clock.advance(timedelta(hours=30))
    await wa.sender.send(PERSON, REMINDER, Priority.BULK)
    clock.advance(timedelta(hours=49))
    sent = await wa.send(message(text="halo"))
    assert REMINDER.text not in [r.text for r in sent]
    assert (await outbound(svc))[1].status == "expired"


# -- error codes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("code", [130429, 131056])
async def test_throttling_backs_off_and_retries(wa: Harness, svc, code: int) -> None:
    wa.graph.fail_next(code, times=2)
    result = await wa.sender.send(PERSON, Reply("x", "Halo"))
    assert result.ok and len(wa.graph.sent) == 3
    assert [(r.status, r.error_code) for r in await outbound(svc)][-1] == ("accepted", None)


async def test_throttling_gives_up_after_the_configured_attempts(wa: Harness, svc) -> None:
    wa.graph.fail_next(130429, times=10)
    result = await wa.sender.send(PERSON, Reply("x", "Halo"))
    assert not result.ok and not result.permanent
    assert len(wa.graph.sent) == wa.sender.config.retry_attempts + 1
    assert (await outbound(svc))[-1].error_code == 130429


async def test_131047_sends_the_approved_template(wa: Harness) -> None:
    wa.graph.fail_next(131047)
    result = await wa.sender.send(PERSON, REMINDER, Priority.BULK, template="reminder")
    assert result.ok and [r.type for r in wa.graph.sent] == ["text", "template"]


async def test_131047_without_a_template_needs_one(wa: Harness, svc) -> None:
    wa.graph.fail_next(131047)
    result = await wa.sender.send(PERSON, Reply("campaign.message", "Ayo daftar!"), Priority.BULK, template="campaign")
    assert result.needs_template and not result.ok and len(wa.graph.sent) == 1
    assert (await outbound(svc))[-1].error_code == 131047


@pytest.mark.parametrize("code", [131026, 131049, 131050])
async def test_permanent_errors_are_recorded_and_not_retried(wa: Harness, svc, code: int) -> None:
    wa.graph.fail_next(code)
    result = await wa.sender.send(PERSON, Reply("x", "Halo"))
    assert not result.ok and result.permanent and len(wa.graph.sent) == 1
    assert result.unreachable == (code == 131026)
    row = (await outbound(svc))[-1]
    assert (row.status, row.error_code) == ("failed", code)


async def test_spam_flag_pauses_bulk_and_tells_administrators(wa: Harness, svc, clock) -> None:
    flags: list[SpamFlag] = []

    async def tell_administrators(flag: SpamFlag) -> None:
        flags.append(flag)

    wa.sender.on_spam_flag = tell_administrators
    wa.graph.fail_next(131048)
    result = await wa.sender.send(PERSON, Reply("campaign.kkbc", "Ayo daftar!"), Priority.BULK)
    assert not result.ok and len(flags) == 1 and flags[0].to == PERSON
    assert (await outbound(svc))[-1].error_code == 131048
    paused = await wa.sender.send(PERSON, Reply("campaign.kkbc", "Ayo daftar!"), Priority.BULK)
    assert not paused.ok and len(wa.graph.sent) == 1  # bulk: not even tried
    assert (await wa.sender.send(PERSON, Reply("x", "Balasan"), Priority.REPLY)).ok  # replies still go
    clock.advance(timedelta(minutes=wa.sender.config.spam_pause_minutes + 1))
    assert (await wa.sender.send(PERSON, REMINDER, Priority.BULK)).ok


# -- priorities -----------------------------------------------------------------------------------
async def test_replies_go_ahead_of_bulk_sends_when_queued() -> None:
    gate = PriorityGate(per_second=50)
    for _ in range(50):  # use up the burst
        await gate.acquire(Priority.BULK)
    order: list[str] = []

    async def send(name: str, priority: Priority) -> None:
        await gate.acquire(priority)
        order.append(name)

    bulk = [asyncio.create_task(send(f"bulk{i}", Priority.BULK)) for i in range(3)]
    await asyncio.sleep(0)
    reply = asyncio.create_task(send("reply", Priority.REPLY))
    await asyncio.gather(*bulk, reply)
    assert order[0] == "reply" and sorted(order[1:]) == ["bulk0", "bulk1", "bulk2"]


# -- rendering ------------------------------------------------------------------------------------
LABELS = Labels("Lihat pilihan", "Pilihan", "Ketik nomor pilihan Anda.")
LIMITS = RenderLimits()


def buttons(n: int, title: str = "Pilihan nomor") -> tuple[Button, ...]:
    return tuple(Button(f"opt:{i}", f"{title} {i}") for i in range(1, n + 1))


def test_three_choices_are_reply_buttons_with_short_titles() -> None:
    [out] = render(Reply("k", "Pilih:", (Button("a", "Ya, saya setuju sepenuhnya"), *buttons(2))), LABELS, LIMITS)
    assert out.kind == "buttons" and len(out.choices) == 3
    assert all(len(title) <= 20 for _, title, _ in out.choices)
    assert out.choices[0] == ("a", "Ya, saya setuju…", None)


def test_four_to_ten_choices_are_a_list() -> None:
    long = Button("nag:1", "Nagari Lubuak Tarok Kecamatan Lubuk Tarok")
    [out] = render(Reply("k", "Pilih nagari:", (long, *buttons(9))), LABELS, LIMITS)
    assert out.kind == "list" and len(out.choices) == 10 and out.list_button == "Lihat pilihan"
    row_id, title, description = out.choices[0]
    assert row_id == "nag:1" and len(title) <= 24 and description == long.title


def test_more_than_ten_choices_are_a_numbered_text() -> None:
    [out] = render(Reply("k", "Pilih nagari:", buttons(12)), LABELS, LIMITS)
    assert out.kind == "text" and "\n12. Pilihan nomor 12" in out.text and out.text.endswith(LABELS.numbered_hint)


def test_long_text_is_split_at_whatsapp_limits() -> None:
    paragraph = "Kalimat yang cukup panjang untuk diulang. " * 30
    text = "\n\n".join([paragraph] * 8)  # about 10,000 characters
    plain = render(Reply("k", text), LABELS, LIMITS)
    assert len(plain) == 3 and all(len(m.text) <= 4096 for m in plain)
    with_choices = render(Reply("k", text, buttons(2)), LABELS, LIMITS)
    assert with_choices[-1].kind == "buttons" and len(with_choices[-1].text) <= 1024
    assert all(m.kind == "text" and len(m.text) <= 4096 for m in with_choices[:-1])
    assert "".join(split_text(text, 4096)).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")


def test_titles_are_shortened_sensibly_and_never_empty() -> None:
    assert shorten("Buruh harian lepas", 20) == "Buruh harian lepas"
    assert len(shorten("Marbot/garin masjid Nagari Sijunjung", 20)) <= 20
    assert shorten("   ", 20) == "-"
    assert len(shorten("x" * 50, 20)) == 20


def test_colliding_short_titles_become_a_list() -> None:
    same = (Button("a", "Nagari Koto Tuo Kecamatan A"), Button("b", "Nagari Koto Tuo Kecamatan B"))
    [out] = render(Reply("k", "Yang mana?", same), LABELS, LIMITS)
    assert out.kind == "list"


async def test_a_list_message_reaches_the_api_in_whatsapp_shape(wa: Harness) -> None:
    assert (await wa.sender.send(PERSON, Reply("k", "Pilih:", buttons(5)))).ok
    action = wa.graph.sent[0].body["interactive"]["action"]
    assert wa.graph.sent[0].body["interactive"]["type"] == "list"
    assert action["button"] == "Lihat pilihan" and len(action["sections"][0]["rows"]) == 5


async def test_documents_are_uploaded_then_sent_as_media(wa: Harness, tmp_path: Path) -> None:
    card = tmp_path / "kartu-SJ-ABC234.pdf"
    card.write_bytes(b"%PDF-1.4 kartu peserta")
    assert (await wa.sender.send(PERSON, Reply("card", "Kartu Anda", document=str(card)))).ok
    assert [u.body["filename"] for u in wa.graph.uploads] == ["kartu-SJ-ABC234.pdf"]
    [sent] = wa.graph.sent
    assert sent.type == "document" and sent.body["document"]["id"] and sent.body["document"]["caption"] == "Kartu Anda"


# -- passing on a worker's message (Reply.forward) -------------------------------------------------
LINE = Reply("handover.official.forwarded", "📎 T7 · pekerja: foto\n\nBalas: /balas T7 teks")


async def test_a_forwarded_image_goes_by_its_media_id_with_the_text_as_caption(wa: Harness) -> None:
    from dataclasses import replace

    assert (await wa.sender.send(PERSON, replace(LINE, forward="wa:image:1548734209012345"))).ok
    [sent] = wa.graph.sent
    assert sent.type == "image" and sent.media_id == "1548734209012345" and sent.text == LINE.text
    assert wa.graph.uploads == []


@pytest.mark.parametrize("ref", ["tg:700000001:108", "wa:image:/etc/passwd", "wa:image:aGVsbG8=",
                                 "wa:location:91,0", "wa:location:nan,1", "wa:poll:123", "wa:image:"])
async def test_what_is_not_a_whatsapp_media_id_is_not_sent_only_the_text(wa: Harness, ref: str) -> None:
    from dataclasses import replace

    assert (await wa.sender.send(PERSON, replace(LINE, forward=ref))).ok
    assert [r.type for r in wa.graph.sent] == ["text"] and wa.graph.sent[0].text == LINE.text
    assert wa.graph.uploads == []


async def test_a_media_id_meta_refuses_leaves_the_text_alone(wa: Harness) -> None:
    from dataclasses import replace

    wa.graph.fail_next(131053)  # "Media upload error": Meta no longer has it
    result = await wa.sender.send(PERSON, replace(LINE, forward="wa:sticker:2094857361209876"))
    assert result.ok and [r.type for r in wa.graph.sent] == ["sticker", "text"]


async def test_a_held_forward_keeps_its_media_until_the_person_writes(wa: Harness, clock) -> None:
    from dataclasses import replace

    wa.sender.config = wa.sender.config.model_copy(update={"window_policy": "wait"})
    clock.advance(timedelta(hours=30))
    assert (await wa.sender.send(PERSON, replace(LINE, forward="wa:voice:1182736450098765"), Priority.NOTIFY)).ok
    assert wa.graph.sent == []
    sent = await wa.send(message(text="halo"))
    audio, line = sent[-2:]
    assert audio.type == "audio" and audio.body["audio"] == {"id": "1182736450098765", "voice": True}
    assert line.text == LINE.text
