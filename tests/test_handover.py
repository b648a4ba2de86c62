"""A person to talk to: a worker asks for an official mid-form; the nagari's operator takes the
ticket, answers and closes it; the form goes on at the same step. Through the simulator (the
JSON-lines contract of bot/simulate.py) on SQLite and PostgreSQL, in Indonesian and English."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from conversations.events import Text
from handlers.router import dispatch
from handlers.services import Services
from storage.models import AuditEvent, Conversation
from storage.tickets import Ticket, TicketMessage
from tests.conftest import GOOD_NIK, REGISTRATION, START, Chat
from tests.fake_platform import SimDriver
from tests.officials_support import ADMIN, MUARO, OPERATOR, OTHER_OPERATOR, add_officials
from tests.test_programme_withdrawal import set_lang

WORKER = "tg:4301"
WA_WORKER = "wa:6281234567801"
SILOKEK = "13.03.04.2003"  # a nagari of Kec. Sijunjung without an operator in these tests

ASK = {"id": "saya mau bicara dengan petugas", "en": "I want to talk to someone"}
QUESTION = {"id": "Pak, saya mau tanya: apakah istri saya juga bisa didaftarkan?",
            "en": "I have a question: can my wife be registered too?"}
BACK = {"id": "lanjut", "en": "continue"}


async def walk(sim: SimDriver, user: str, lang: str, until: str, nagari: str = "Muaro") -> list[dict[str, Any]]:
    """Walk the registration until (and including) the answer `until` (a value of REGISTRATION);
    returns the bot's last messages."""
    out = await sim.say(user, "halo")
    for kind, value in REGISTRATION:
        if value == "lang:id":
            value = f"lang:{lang}"
        if value == "Muaro":
            value = nagari
        out = await (sim.tap(user, value) if kind == "tap" else sim.say(user, value))
        if value == until:
            return out
    raise AssertionError(f"{until} is not an answer of the registration")


def to(messages: list[dict[str, Any]], user: str) -> list[dict[str, Any]]:
    return [m for m in messages if m["to"] == user]


def text_to(messages: list[dict[str, Any]], user: str) -> str:
    return "\n".join(m["text"] for m in to(messages, user))


def buttons_to(messages: list[dict[str, Any]], user: str) -> list[str]:
    return [b["id"] for m in to(messages, user) for b in m.get("buttons", [])]


async def step_of(svc: Services, user: str) -> str | None:
    async with svc.db.session() as session:
        return (await session.execute(select(Conversation.step).where(Conversation.channel_user == user))).scalar()


async def tickets(svc: Services) -> list[Ticket]:
    async with svc.db.session() as session:
        return list((await session.execute(select(Ticket).order_by(Ticket.id))).scalars().all())


async def officials_in(svc: Services, lang: str) -> None:
    await add_officials(svc)
    for official in (ADMIN, OPERATOR, OTHER_OPERATOR):
        await set_lang(svc, official, lang)


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_asked_mid_form_taken_answered_closed_and_the_form_goes_on(any_svc: Services, clock: Any,
                                                                         lang: str) -> None:
    await officials_in(any_svc, lang)
    sim = SimDriver(any_svc, clock)
    phone_question = to(await walk(sim, WORKER, lang, "Koto Tuo"), WORKER)[-1]["text"]
    paused_at = await step_of(any_svc, WORKER)

    out = await sim.say(WORKER, ASK[lang])
    (ticket,) = await tickets(any_svc)
    code = f"T{ticket.id}"
    # The worker is told who answers and when, and how to go back; nothing of the form is lost.
    told = text_to(out, WORKER)
    assert code in told and "Muaro" in told and ("lanjut" if lang == "id" else "continue") in told
    assert ("Senin" if lang == "id" else "Monday") in told  # the office hours from config
    assert ticket.nagari_code == MUARO and ticket.step == paused_at and ticket.routed_to == "nagari"
    # The operator of Muaro gets it at once, masked, with buttons to take and close it; nobody else.
    assert {m["to"] for m in out} == {WORKER, OPERATOR}
    notice = text_to(out, OPERATOR)
    assert GOOD_NIK not in notice and GOOD_NIK[:4] + "*" * 12 in notice and "Siti Rahmah" in notice
    assert buttons_to(out, OPERATOR) == [f"tk:take:{ticket.id}", f"tk:close:{ticket.id}"]

    # The form is paused: the worker's messages go to the officials, not into the form.
    out = await sim.say(WORKER, QUESTION[lang])
    assert QUESTION[lang] in text_to(out, OPERATOR) and code in text_to(out, WORKER)
    assert await step_of(any_svc, WORKER) == paused_at
    # A NIK typed to the official is passed on masked, never in clear. (A minute later: within a
    # minute of the last push the worker's text is collected for the next one, test_handover_limits.)
    clock.advance(timedelta(minutes=1))
    out = await sim.say(WORKER, f"NIK saya {GOOD_NIK}")
    assert GOOD_NIK not in text_to(out, OPERATOR) and GOOD_NIK[:4] + "*" * 12 in text_to(out, OPERATOR)
    out = await sim.line({"from": WORKER, "media": "photo"})
    assert code in text_to(out, OPERATOR) and ("foto" if lang == "id" else "photo") in text_to(out, OPERATOR)

    # The operator takes it (the button), sees the messages so far; the worker is told.
    out = await sim.tap(OPERATOR, f"tk:take:{ticket.id}")
    assert QUESTION[lang] in text_to(out, OPERATOR) and code in text_to(out, WORKER)
    answer = {"id": "Bisa, istri Anda daftar sendiri dengan nomor HP-nya.",
              "en": "Yes, your wife registers herself with her own phone."}[lang]
    command = "/balas" if lang == "id" else "/reply"
    out = await sim.say(OPERATOR, f"{command} {code} {answer}")
    assert answer in text_to(out, WORKER)
    assert to(out, OPERATOR)  # told it was sent
    # The worker's next message goes to the holder only.
    clock.advance(timedelta(minutes=1))
    out = await sim.say(WORKER, {"id": "Terima kasih pak", "en": "Thank you"}[lang])
    assert {m["to"] for m in out} == {OPERATOR}

    # Words that are also the officials' commands are a worker's message like any other.
    clock.advance(timedelta(minutes=1))
    out = await sim.say(WORKER, {"id": "tutup aja pak, sudah jelas", "en": "close it please, all clear"}[lang])
    assert {m["to"] for m in out} == {OPERATOR} and (await tickets(any_svc))[0].status == "taken"

    out = await sim.say(OPERATOR, f"/{'tutup' if lang == 'id' else 'close'} {code}")
    # The worker is told and the form asks again exactly the question it had reached.
    assert to(out, WORKER)[-1]["text"] == phone_question
    assert await step_of(any_svc, WORKER) == paused_at
    (ticket,) = await tickets(any_svc)
    assert ticket.status == "closed" and ticket.closed_by == OPERATOR and ticket.answered_at is not None

    # ... and the form goes on from there to the summary.
    for kind, value in REGISTRATION[REGISTRATION.index(("say", "0812-3456-7890")):]:
        out = await (sim.tap(WORKER, value) if kind == "tap" else sim.say(WORKER, value))
    assert await step_of(any_svc, WORKER) == "summary"

    # Messages are kept encrypted; the audit trail says who took, answered and closed it.
    async with any_svc.db.session() as session:
        bodies = list((await session.execute(select(TicketMessage.body_enc))).scalars())
        trail = list((await session.execute(select(AuditEvent.actor, AuditEvent.action)
                                             .where(AuditEvent.reference == code).order_by(AuditEvent.id))).all())
    assert bodies and all(QUESTION[lang] not in (body or "") and answer not in (body or "") for body in bodies)
    assert trail == [(WORKER, "ticket_opened"), (OPERATOR, "ticket_taken"), (OPERATOR, "ticket_answered"),
                     (OPERATOR, "ticket_closed")]


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_a_nagari_without_operator_goes_to_the_admins(any_svc: Services, clock: Any, lang: str) -> None:
    await officials_in(any_svc, lang)
    sim = SimDriver(any_svc, clock)
    await walk(sim, WORKER, lang, "Koto Tuo", nagari="Silokek")
    out = await sim.say(WORKER, QUESTION[lang])
    (ticket,) = await tickets(any_svc)
    assert ticket.nagari_code == SILOKEK and ticket.routed_to == "regency"
    assert {m["to"] for m in out} == {WORKER, ADMIN}
    assert QUESTION[lang] in text_to(out, ADMIN)
    # Before the nagari is known: the regency desk too.
    out = await sim.say("tg:4302", ASK[lang])
    assert {m["to"] for m in out} == {"tg:4302", ADMIN}
    # The admin answers from the list.
    out = await sim.say(ADMIN, "/tiket" if lang == "id" else "/tickets")
    assert f"T{ticket.id}" in text_to(out, ADMIN)


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_an_operator_of_another_nagari_is_refused(any_svc: Services, clock: Any, lang: str) -> None:
    await officials_in(any_svc, lang)
    sim = SimDriver(any_svc, clock)
    await walk(sim, WORKER, lang, "Koto Tuo")
    await sim.say(WORKER, QUESTION[lang])
    (ticket,) = await tickets(any_svc)
    code = f"T{ticket.id}"
    other = Chat(any_svc, OTHER_OPERATOR)
    await other(f"/balas {code} halo")
    refused = other.keys
    # The same answer as for a ticket that does not exist; nothing reaches the worker.
    await other("/balas T99999 halo")
    assert other.keys == refused == ["handover.not_found"] and not other.others
    await other(f"/ambil {code}")
    assert other.keys == refused
    await other("/tiket")
    assert other.keys == ["handover.list.empty"]
    # A worker cannot use the officials' commands.
    stranger = Chat(any_svc, "tg:4399")
    await stranger(f"/tutup {code}")
    assert stranger.keys == ["official.not_allowed"]
    assert (await tickets(any_svc))[0].status == "open"


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_two_operators_take_one_ticket_at_the_same_moment_one_wins(any_svc: Services, clock: Any,
                                                                         lang: str) -> None:
    await officials_in(any_svc, lang)
    second = "tg:9012"
    async with any_svc.db.session() as session:
        from handlers.roles import grant

        await grant(session, second, "operator", MUARO, "test", clock.now())
        await session.commit()
    sim = SimDriver(any_svc, clock)
    await walk(sim, WORKER, lang, "Koto Tuo")
    await sim.say(WORKER, QUESTION[lang])
    (ticket,) = await tickets(any_svc)
    take = f"/{'ambil' if lang == 'id' else 'take'} T{ticket.id}"
    first_out, second_out = await asyncio.gather(dispatch(any_svc, OPERATOR, Text(take)),
                                                 dispatch(any_svc, second, Text(take)))
    keys = sorted([o.reply.key for o in first_out if o.to == OPERATOR] + [o.reply.key for o in second_out
                                                                          if o.to == second])
    assert keys == ["handover.held_by", "handover.taken"]
    (ticket,) = await tickets(any_svc)
    assert ticket.holder in (OPERATOR, second)
    # The worker was told once; the loser is shown who holds it.
    told = [o for o in first_out + second_out if o.to == WORKER]
    assert [o.reply.key for o in told] == ["handover.worker.taken"]
    loser = second if ticket.holder == OPERATOR else OPERATOR
    loser_out = await dispatch(any_svc, loser, Text(f"/balas T{ticket.id} saya bantu"))
    assert [o.reply.key for o in loser_out] == ["handover.held_by"]


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_deleting_my_data_removes_the_tickets_messages(any_svc: Services, clock: Any, lang: str) -> None:
    await officials_in(any_svc, lang)
    sim = SimDriver(any_svc, clock)
    await walk(sim, WORKER, lang, "Koto Tuo")
    await sim.say(WORKER, QUESTION[lang])
    await sim.say(WORKER, {"id": "nomor saya 0812-3456-7890", "en": "my number is 0812-3456-7890"}[lang])
    (ticket,) = await tickets(any_svc)
    await sim.say(OPERATOR, f"/balas T{ticket.id} baik")
    # "hapus data" still works while the form is paused.
    await sim.say(WORKER, "hapus data" if lang == "id" else "delete my data")
    await sim.tap(WORKER, "confirm:yes")
    async with any_svc.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(TicketMessage))).scalar_one() == 0
        assert (await session.execute(select(func.count()).select_from(Ticket))).scalar_one() == 0
        erased = (await session.execute(select(AuditEvent.details).where(AuditEvent.action == "data_erased"))).scalar_one()
    assert erased["tickets"] == 1


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_a_worker_on_whatsapp_is_answered_by_an_operator_on_telegram(any_svc: Services, clock: Any,
                                                                           lang: str) -> None:
    await officials_in(any_svc, lang)
    sim = SimDriver(any_svc, clock)
    await walk(sim, WA_WORKER, lang, "Koto Tuo")
    out = await sim.say(WA_WORKER, QUESTION[lang])
    (ticket,) = await tickets(any_svc)
    assert to(out, OPERATOR) and "WhatsApp" in text_to(out, OPERATOR)
    answer = {"id": "Bisa, datang ke kantor wali nagari.", "en": "Yes, come to the wali nagari's office."}[lang]
    out = await sim.say(OPERATOR, f"/balas T{ticket.id} {answer}")
    assert answer in text_to(out, WA_WORKER)
    # The worker wrote a moment ago: WhatsApp's 24-hour window is open, and the official is told so.
    assert any_svc.catalog.text(lang, "handover.sent", code=f"T{ticket.id}") in text_to(out, OPERATOR)
    # A day later the window is closed: the answer is announced by its approved template (the
    # simulator's WhatsApp has every template approved), and the official is told so.
    clock.set(START + timedelta(hours=25))
    operator = Chat(any_svc, OPERATOR)
    await operator(f"/balas T{ticket.id} {answer}")
    assert operator.keys == ["handover.sent_template"]


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_a_silent_ticket_closes_by_itself_and_unanswered_ones_are_reminded_and_escalated(
        any_svc: Services, clock: Any, lang: str) -> None:
    await officials_in(any_svc, lang)
    sim = SimDriver(any_svc, clock)
    phone_question = to(await walk(sim, WORKER, lang, "Koto Tuo"), WORKER)[-1]["text"]
    await sim.say(WORKER, QUESTION[lang])
    (ticket,) = await tickets(any_svc)
    rules = any_svc.config.handover
    # Nobody took it within the configured time: the admins get it too, once.
    out = await sim.clock(START + timedelta(minutes=rules.take_within_minutes + 1))
    assert f"T{ticket.id}" in text_to(out, ADMIN) and buttons_to(out, ADMIN) == [f"tk:take:{ticket.id}",
                                                                                  f"tk:close:{ticket.id}"]
    assert not to(await sim.clock(START + timedelta(minutes=rules.take_within_minutes + 5)), ADMIN)
    # Unanswered after remind_after_hours: its officials are reminded once.
    out = await sim.clock(START + timedelta(hours=rules.remind_after_hours, minutes=1))
    assert f"T{ticket.id}" in text_to(out, OPERATOR) and f"T{ticket.id}" in text_to(out, ADMIN)
    assert not to(await sim.clock(START + timedelta(hours=rules.remind_after_hours, minutes=10)), OPERATOR)
    # Silent for close_after_hours: closed, the worker told how to reopen and the form asks again.
    out = await sim.clock(START + timedelta(hours=rules.close_after_hours, minutes=1))
    worker_text = text_to(out, WORKER)
    assert f"T{ticket.id}" in worker_text and ("petugas" if lang == "id" else "officer") in worker_text
    assert to(out, WORKER)[-1]["text"] == phone_question
    (ticket,) = await tickets(any_svc)
    assert ticket.status == "closed" and ticket.closed_by == "silence"
    # The next message is an answer to the form again.
    await sim.say(WORKER, "0812-3456-7890")
    assert await step_of(any_svc, WORKER) != "phone"


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_the_worker_goes_back_to_the_form_and_the_officials_are_told(any_svc: Services, clock: Any,
                                                                          lang: str) -> None:
    await officials_in(any_svc, lang)
    sim = SimDriver(any_svc, clock)
    phone_question = to(await walk(sim, WORKER, lang, "Koto Tuo"), WORKER)[-1]["text"]
    out = await sim.say(WORKER, ASK[lang])
    assert buttons_to(out, WORKER) == ["tk:back"]
    # A button of the paused form is answered with the pause, not taken as an answer.
    out = await sim.tap(WORKER, "inc:1000000")
    assert buttons_to(out, WORKER) == ["tk:back"]
    out = await sim.say(WORKER, BACK[lang])
    assert to(out, WORKER)[-1]["text"] == phone_question and to(out, OPERATOR)
    (ticket,) = await tickets(any_svc)
    assert ticket.status == "closed" and ticket.closed_by == "worker"


@pytest.mark.parametrize(("text", "asks"), [
    ("petugas", True), ("Operator", True), ("bicara dengan orang", True), ("mau tanya", True),
    ("saya mau bicara dengan petugas", True), ("human", True), ("talk to someone", True),
    ("Ambo nio batanyo ka petugas", True), ("I want to talk to a human please", True),
    ("operator alat berat", False), ("petani", False), ("halo", False), ("Ahmad Yani", False),
])
def test_ways_of_asking_for_a_person(text: str, asks: bool) -> None:
    from conversations.understand import asks_for_person

    assert asks_for_person(text) is asks


async def test_stuck_three_times_and_unanswerable_questions_offer_a_person(svc: Services) -> None:
    chat = Chat(svc, WORKER)
    await chat("halo")
    for kind, value in REGISTRATION[:6]:
        await (chat.tap(value) if kind == "tap" else chat(value))
    # At the name step: a question the bot cannot answer points to a person (one it can, from
    # its FAQ, is answered and the question asked again).
    await chat("kapan kartunya jadi?")
    assert chat.keys == ["faq.card", "name.prompt"]
    await chat("boleh saya daftar untuk tetangga saya?")
    assert chat.keys[0] == "answer.question" and "petugas" in chat.replies[0].text
    # Two more failed tries (three in all at this step): the way to a person.
    await chat("12")
    assert chat.keys == ["name.chars"]
    await chat("12")
    assert chat.keys == ["help.stuck"] and "petugas" in chat.text
    # The way to a person is a button too: its press means the same as typing "petugas".
    await chat.tap("tk:ask")
    assert chat.keys == ["handover.opened_ask"]


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_admin_statistics_show_tickets(any_svc: Services, clock: Any, lang: str) -> None:
    await officials_in(any_svc, lang)
    sim = SimDriver(any_svc, clock)
    await walk(sim, WORKER, lang, "Koto Tuo")
    await sim.say(WORKER, QUESTION[lang])
    (ticket,) = await tickets(any_svc)
    clock.set(START + timedelta(minutes=30))
    await sim.say(OPERATOR, f"/balas T{ticket.id} baik, saya cek dulu")
    admin = Chat(any_svc, ADMIN)
    await admin("/statistik" if lang == "id" else "/stats")
    stats = next(r for r in admin.replies if r.key == "handover.stats")
    assert {"id": "Terbuka: 1", "en": "Open: 1"}[lang] in stats.text and "Muaro: 1 / 1" in stats.text
    assert {"id": "30 menit", "en": "30 min"}[lang] in stats.text


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_a_registered_worker_with_a_question_is_one_tap_from_a_person(any_svc: Services, lang: str) -> None:
    from tests.conftest import register

    await officials_in(any_svc, lang)
    worker = Chat(any_svc, WORKER)
    reference = await register(worker, lang=lang)
    await worker({"id": "kapan kartu saya jadi?", "en": "when will my card be ready?"}[lang])
    assert worker.keys == ["aftercare.pending"] and "tk:ask" in worker.buttons()
    await worker.tap("tk:ask")
    assert worker.keys == ["handover.opened_ask"]
    # The operator sees where the worker stands: registered, with the reference and status.
    (notice,) = [o for o in worker.others if o.to == OPERATOR]
    assert reference in notice.reply.text and "Muaro" in notice.reply.text


@pytest.mark.parametrize(("text", "shown"), [
    ("NIK saya 1303055203850001 ya", "NIK saya 1303************ ya"),
    ("1303 0552 0385 0001", "1303 **** **** ****"),
    ("hp saya 0812-3456-7890, rumah no 12", "hp saya 0812-3456-7890, rumah no 12"),
])
def test_a_nik_in_a_workers_message_is_masked(text: str, shown: str) -> None:
    from conversations.validators import mask_niks_in

    assert mask_niks_in(text) == shown


async def test_statements_of_a_ticket_turn(svc: Services, clock: Any) -> None:
    """What a ticket costs the database, counted like tests/test_turn_counts.py: a worker's
    message passed on to the holder, and the holder's answer (each one turn, one commit)."""
    from tests.test_turn_counts import counting

    await officials_in(svc, "id")
    sim = SimDriver(svc, clock)
    await walk(sim, WORKER, "id", "Koto Tuo")
    await sim.say(WORKER, QUESTION["id"])
    (ticket,) = await tickets(svc)
    await sim.say(OPERATOR, f"/ambil T{ticket.id}")
    with counting(svc) as worker_turn:
        await dispatch(svc, WORKER, Text("Terima kasih pak, saya tunggu"))
    with counting(svc) as answer_turn:
        await dispatch(svc, OPERATOR, Text(f"/balas T{ticket.id} Baik, besok saya telepon."))
    assert len(worker_turn.statements) <= 9 and worker_turn.commits <= 2, worker_turn
    assert len(answer_turn.statements) <= 11 and answer_turn.commits <= 2, answer_turn
