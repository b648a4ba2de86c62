"""Sending outside WhatsApp's 24-hour window: each message goes as its project-defined template,
in the person's language (else the programme's first), with parameter values read from what
the programme knows, only while Meta has the template APPROVED; a notice's full text waits for
the person's tap, and a tap on a template's quick reply means what its words mean typed.
pywa's real client against the fake Graph API, over real HTTP."""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.whatsapp.template_values import one_line
from bot.whatsapp.templates import BY_KIND, TEMPLATES, VALUE_MAX, kind_of, value_problems
from conversations.events import Reply
from handlers.clock import LOCAL_TZ
from handlers.delivery import Priority
from handlers.officials import worker_notice
from handlers.services import Services
from storage.models import Conversation, Nagari, Person, Registration
from storage.officials import Official
from storage.tickets import Ticket
from storage.wa_templates import record
from storage.whatsapp import OutboundMessage
from tests.conftest import Chat, register
from tests.fake_graph import WA_ID, Harness, message, whatsapp_harness
from tests.test_flow_registration import walk_to

PERSON = f"wa:{WA_ID}"


async def approve(svc: Services, kinds: tuple[str, ...] | None = None, langs: tuple[str, ...] = ("id", "en"),
                  status: str = "APPROVED") -> None:
    """What `templates sync` records when Meta has approved (or not) our templates."""
    async with svc.db.session() as session:
        for template in TEMPLATES:
            if kinds is None or template.kind in kinds:
                for lang in langs:
                    await record(session, template.name, lang, status, svc.clock.now(), category=template.category)
        await session.commit()


@pytest.fixture
async def wa(svc: Services, clock: Any) -> AsyncIterator[Harness]:
    async with whatsapp_harness(svc) as harness:
        yield harness


async def outside_window(svc: Services, clock: Any, wa: Harness, lang: str = "id") -> str:
    """A worker registered from this WhatsApp number, who then went quiet for 25 hours."""
    reference = await register(Chat(svc, PERSON), lang=lang)
    assert reference
    clock.advance(timedelta(hours=25))
    await wa.sender.refresh_templates()
    wa.graph.sent.clear()
    return reference


def template_of(wa: Harness) -> tuple[str, str, list[str]]:
    [sent] = [r for r in wa.graph.sent if r.type == "template"]
    template = sent.body["template"]
    params = [p["text"] for c in template.get("components", []) for p in c.get("parameters", [])]
    return template["name"], template["language"]["code"], params


async def outbound(svc: Services) -> list[OutboundMessage]:
    async with svc.db.session() as session:
        return list((await session.execute(select(OutboundMessage).order_by(OutboundMessage.id))).scalars())


def quick_reply(title: str) -> dict[str, Any]:
    """The webhook body of a tap on a template's quick reply: a "button" message (Meta's shape;
    pywa's tests/data/updates/callback_button.json "quick_reply"), carrying the title."""
    body = message(text="x")
    value = body["entry"][0]["changes"][0]["value"]
    typed = value["messages"][0]
    tapped = copy.deepcopy(typed)
    del tapped["text"]
    tapped.update(type="button", button={"payload": f"{title} payload", "text": title})
    value["messages"][0] = tapped
    return body


async def muaro(svc: Services) -> Nagari:
    async with svc.db.session() as session:
        return (await session.execute(select(Nagari).where(Nagari.name == "Muaro"))).scalar_one()


# -- which template ---------------------------------------------------------------------------
@pytest.mark.parametrize(("key", "official", "kind"), [
    ("reminder.unfinished.first", False, "reminder"),
    ("reminder.unfinished.last", False, "reminder"),
    ("official.worker.approved", False, "status_notice"),
    ("official.worker.rejected", False, "status_notice"),
    ("official.worker.ending", False, "coverage_ending"),
    ("reminder.coverage_ending", False, "coverage_ending"),
    ("handover.worker.answer", False, "ticket_answer"),
    ("handover.official.new", True, "officials_notice"),
    ("programme.digest.admin", True, "officials_notice"),
    ("reminder.pending_digest", True, "officials_notice"),
    ("campaign.report", True, "officials_notice"),
    ("claims.family.paid", False, "status_notice"),
    ("claims.official.new", True, "officials_notice"),
    ("something.new", True, "officials_notice"),
    ("something.new", False, "status_notice"),
])
def test_every_message_the_bot_starts_has_a_template(key: str, official: bool, kind: str) -> None:
    assert kind_of(key, official) == kind and kind in BY_KIND


def test_a_value_is_one_line_within_meta_limits() -> None:
    assert one_line("Siti\n\tRahmah     binti  Ahmad") == "Siti Rahmah binti Ahmad"
    long = one_line("A" * 100)
    assert len(long) == VALUE_MAX and long.endswith("…") and value_problems(long) == []


# -- sending -----------------------------------------------------------------------------------
async def test_a_status_notice_is_its_template_with_real_values_and_the_notice_waits_for_the_tap(
        svc: Services, clock: Any, wa: Harness) -> None:
    await approve(svc)
    reference = await outside_window(svc, clock, wa)
    notice = Reply("official.worker.approved", svc.catalog.text("id", "official.worker.approved", reference=reference,
                                                                nagari="Muaro", contribution="Rp16.800"))
    result = await wa.sender.send(PERSON, notice, Priority.NOTIFY)
    assert result.ok and result.message_id
    name, lang, params = template_of(wa)
    assert (name, lang, params) == ("kabar_pendaftaran", "id", ["Siti Rahmah", reference, "Muaro"])
    assert all(value_problems(value) == [] for value in params)
    # The template only announces it: the notice waits for the worker.
    assert [(r.kind, r.status) for r in await outbound(svc)][-2:] == [("template", "accepted"), ("held", "waiting")]

    sent = await wa.send(quick_reply("Lihat status"))
    texts = [r.text for r in sent]
    assert notice.text in texts  # the notice itself, once the window is open
    # ... and the tap did what "Lihat status" typed does (the row was not changed: still pending).
    assert any(reference in text and svc.catalog.text("id", "status.pending") in text for text in texts)


async def test_the_person_s_language_and_the_first_language_when_theirs_is_not_approved(
        svc: Services, clock: Any, wa: Harness) -> None:
    await approve(svc, langs=("id", "en"))
    reference = await outside_window(svc, clock, wa, lang="en")
    await wa.sender.send(PERSON, Reply("official.worker.approved", f"Approved: {reference}"), Priority.NOTIFY)
    assert template_of(wa)[:2] == ("kabar_pendaftaran", "en")

    await approve(svc, langs=("en",), status="PAUSED")
    await wa.sender.refresh_templates()
    wa.graph.sent.clear()
    await wa.sender.send(PERSON, Reply("official.worker.approved", f"Approved: {reference}"), Priority.NOTIFY)
    assert template_of(wa)[:2] == ("kabar_pendaftaran", "id")


async def test_without_an_approved_template_a_notice_waits_and_a_reminder_is_not_sent(
        svc: Services, clock: Any, wa: Harness, caplog: pytest.LogCaptureFixture) -> None:
    await approve(svc, status="PENDING")
    await outside_window(svc, clock, wa)
    caplog.set_level(logging.WARNING, logger="bot.whatsapp.sender")
    reminder = Reply("reminder.unfinished.first", "Pendaftaran Anda belum selesai.")
    for _ in range(2):
        result = await wa.sender.send(PERSON, reminder, Priority.BULK, template="reminder")
        assert not result.ok and result.needs_template
    notice = Reply("official.worker.approved", "Pendaftaran Anda disetujui.")
    result = await wa.sender.send(PERSON, notice, Priority.NOTIFY)
    assert result.ok and result.message_id is None and wa.graph.sent == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "reminder" in w]) == 1  # once, not once per message
    assert any("status_notice" in w and "held" in w for w in warnings)
    sent = await wa.send(message(text="halo"))
    assert notice.text in [r.text for r in sent]


async def test_a_ticket_answer_names_the_ticket(svc: Services, clock: Any, wa: Harness) -> None:
    await approve(svc)
    async with svc.db.session() as session:
        ticket = Ticket(channel_user=PERSON, opened_at=clock.now(), last_activity_at=clock.now(), status="taken")
        session.add(ticket)
        await session.commit()
        code = ticket.code
    await wa.sender.refresh_templates()
    result = await wa.sender.send(PERSON, Reply("handover.worker.answer", "Jawaban: datang ke kantor."),
                                  Priority.NOTIFY)
    assert result.ok
    # Nobody registered from this number: a kind word stands in for the name.
    assert template_of(wa) == ("jawaban_petugas", "id", [svc.catalog.text("id", "template.value.name"), code])


@pytest.mark.parametrize("nagari_grant", [True, False])
async def test_an_officials_notice_names_the_place_and_the_subject(svc: Services, clock: Any, wa: Harness,
                                                                   nagari_grant: bool) -> None:
    await approve(svc)
    place = await muaro(svc)
    async with svc.db.session() as session:
        session.add(Official(channel_user=PERSON, role="operator" if nagari_grant else "admin",
                             nagari_code=place.code if nagari_grant else None, added_by="test", added_at=clock.now()))
        await session.commit()
    await wa.sender.refresh_templates()
    result = await wa.sender.send(PERSON, Reply("programme.digest.admin", "Ringkasan: 3 menunggu."), Priority.NOTIFY)
    assert result.ok
    expected = "Nagari Muaro" if nagari_grant else svc.config.regency.name
    assert template_of(wa) == ("pemberitahuan_petugas", "id",
                               [expected, svc.catalog.text("id", "template.subject.programme")])


async def test_a_campaign_is_whole_in_its_template(svc: Services, clock: Any, wa: Harness) -> None:
    await approve(svc)
    await wa.sender.refresh_templates()
    result = await wa.sender.send(PERSON, Reply("campaign.message", "Kerja Keras Bebas Cemas!\nDaftar sekarang."),
                                  Priority.BULK, template="campaign")
    assert result.ok
    assert template_of(wa) == ("kkbc_masuk_desa", "id", [svc.catalog.text("id", "template.value.name"),
                                                         svc.catalog.text("id", "template.value.nagari")])
    assert "held" not in [r.kind for r in await outbound(svc)]


async def test_a_reminder_names_the_day_the_draft_was_left(svc: Services, clock: Any, wa: Harness) -> None:
    await approve(svc)
    chat = Chat(svc, PERSON)
    await walk_to(chat, "jorong")
    async with svc.db.session() as session:
        updated = (await session.execute(select(Conversation.updated_at).where(
            Conversation.channel_user == PERSON))).scalar_one()
    clock.advance(timedelta(hours=30))
    await wa.sender.refresh_templates()
    result = await wa.sender.send(PERSON, Reply("reminder.unfinished.first", "Lanjutkan pendaftaran Anda."),
                                  Priority.BULK, template="reminder")
    assert result.ok
    name, _, params = template_of(wa)
    assert name == "pengingat_pendaftaran" and params[1] == updated.astimezone(LOCAL_TZ).strftime("%d-%m-%Y")


async def test_131047_inside_our_window_sends_the_template(svc: Services, clock: Any, wa: Harness) -> None:
    await approve(svc)
    await wa.send(message(text="halo"))
    await wa.sender.refresh_templates()
    wa.graph.sent.clear()
    wa.graph.fail_next(131047)
    result = await wa.sender.send(PERSON, Reply("campaign.message", "KKBC"), Priority.BULK, template="campaign")
    assert result.ok and [r.type for r in wa.graph.sent] == ["text", "template"]


# -- the taps ----------------------------------------------------------------------------------
async def test_tapping_berhenti_stops_like_typing_it(svc: Services, clock: Any, wa: Harness) -> None:
    await wa.send(quick_reply("Berhenti"))
    async with svc.db.session() as session:
        person = (await session.execute(select(Person).where(Person.channel_user == PERSON))).scalar_one()
    assert person.opted_out


@pytest.mark.parametrize("title", ["Lanjutkan", "Continue", "Baca jawaban", "Buka"])
async def test_tapping_lanjutkan_mid_form_asks_the_same_step_again(svc: Services, clock: Any, wa: Harness,
                                                                   title: str) -> None:
    chat = Chat(svc, PERSON)
    await walk_to(chat, "jorong")
    clock.advance(timedelta(hours=30))  # a reminder brought them back a day later
    sent = await wa.send(quick_reply(title))
    assert wa.said(sent, "jorong.prompt")
    async with svc.db.session() as session:
        state = (await session.execute(select(Conversation.state).where(Conversation.channel_user == PERSON))).scalar()
    assert title not in state  # not taken as the jorong's name


# -- what the official is told -------------------------------------------------------------------
async def test_the_official_is_told_when_no_template_can_carry_a_notice(svc: Services, clock: Any,
                                                                        wa: Harness) -> None:
    registration = Registration(reference="SJ-ABC234", nik_enc="x", nik_hash="x", name="Siti", sex="P",
                                birth_date=clock.now().date(), birth_date_nik=clock.now().date(),
                                nagari_code=(await muaro(svc)).code, jorong="Koto Tuo", phone="+6281234567891",
                                category="petani", income=1, income_base=1, monthly_contribution=1,
                                channel_user="assist:tg:42", created_at=clock.now(), updated_at=clock.now())
    reply = Reply("official.worker.approved", "Disetujui SJ-ABC234")
    await wa.sender.refresh_templates()
    outgoing, (note, _) = worker_notice(svc, registration, reply)
    assert note == "official.notice.no_template" and [o.to for o in outgoing] != ["wa:6281234567891"]
    await approve(svc, kinds=("status_notice",))
    await wa.sender.refresh_templates()
    outgoing, (note, _) = worker_notice(svc, registration, reply)
    assert note == "official.notice.whatsapp" and [o.to for o in outgoing] == ["wa:6281234567891"]
