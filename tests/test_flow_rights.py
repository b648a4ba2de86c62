"""Transcripts of the worker's rights under UU 27/2022 from the chat: status, see my data,
correct an undecided registration, delete (erase when undecided, request when approved), and
the deletion of unfinished drafts after the configured time.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from handlers.clock import FixedClock
from handlers.maintenance import run_due
from handlers.services import Services
from storage.models import AuditEvent, Consent, Conversation, Registration
from tests.conftest import GOOD_NIK, Chat, register
from tests.test_flow_registration import registrations, state_of, walk_to


async def audit_trail(svc: Services) -> list[AuditEvent]:
    async with svc.db.session() as session:
        return list((await session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars())


async def set_status(svc: Services, reference: str, status: str) -> None:
    """What an official's decision does to the row (that feature is not part of this core)."""
    async with svc.db.session() as session:
        await session.execute(update(Registration).where(Registration.reference == reference).values(status=status))
        await session.commit()


# -- status and my data ---------------------------------------------------------------------------
async def test_status_before_during_and_after(chat: Chat) -> None:
    await chat("status")
    assert chat.keys == ["status.none"]
    await walk_to(chat, "jorong")
    await chat("cek status")
    assert chat.keys == ["status.text", "jorong.prompt"] and "langkah 9 dari 13" in chat.text
    await chat("Koto Tuo")
    assert chat.keys == ["phone.prompt"]


async def test_status_of_a_submitted_registration(chat: Chat, svc: Services) -> None:
    reference = await register(chat)
    assert reference
    await chat("/status")
    assert chat.keys == ["status.text"]
    assert reference in chat.text and svc.catalog.text("id", "status.pending") in chat.text
    await set_status(svc, reference, "approved")
    await chat.tap("cmd:status")
    assert svc.catalog.text("id", "status.approved") in chat.text


async def test_my_data_shows_everything_with_the_nik_masked(chat: Chat) -> None:
    await chat("data saya")
    assert chat.keys == ["mydata.none"]
    reference = await register(chat)
    await chat("data saya")
    assert chat.keys == ["mydata.text"]
    for shown in (reference, "Siti Rahmah", "1303************", "Muaro", "Koto Tuo", "+62 812-3456-7890",
                  "Ahmad Yani", "28-11-2026"):
        assert shown and shown in chat.text, shown
    assert GOOD_NIK not in chat.text


async def test_my_data_in_english_during_a_draft(svc: Services) -> None:
    chat = Chat(svc, "tg:5")
    await walk_to(chat, "nagari", lang="en")
    await chat("my data")
    assert chat.keys == ["mydata.text", "nagari.prompt"]
    assert "1303************" in chat.text and GOOD_NIK not in chat.text


# -- correction -----------------------------------------------------------------------------------
async def test_correct_the_jorong_of_a_pending_registration(chat: Chat, svc: Services) -> None:
    reference = await register(chat)
    await chat("ubah data")
    assert chat.keys == ["correct.pick"] and "Koto Tuo" in chat.text and GOOD_NIK not in chat.text
    await chat("9")
    assert chat.keys == ["correct.pick_unclear"]
    await chat("5")
    assert chat.keys == ["jorong.prompt"]
    await chat("kampung  baru")
    assert chat.keys == ["correct.done"]
    (row,) = await registrations(svc)
    assert (row.reference, row.jorong, row.name, row.status) == (reference, "Kampung Baru", "Siti Rahmah", "pending")
    corrected = [e for e in await audit_trail(svc) if e.action == "corrected_by_worker"]
    assert [(e.reference, e.details["fields"]) for e in corrected] == [(reference, ["jorong"])]
    state = await state_of(svc, chat.user)
    assert state.step == "done" and state.answers == {} and state.correcting is None


async def test_correction_cancelled_changes_nothing(chat: Chat, svc: Services) -> None:
    await register(chat)
    await chat("ubah data")
    await chat("2")
    assert chat.keys == ["name.prompt"]
    await chat("kembali")
    assert chat.keys == ["correct.cancelled"]
    (row,) = await registrations(svc)
    assert row.name == "Siti Rahmah"


async def test_a_decided_registration_cannot_be_corrected_from_the_chat(chat: Chat, svc: Services) -> None:
    reference = await register(chat)
    assert reference
    await set_status(svc, reference, "approved")
    await chat("ubah data")
    assert chat.keys == ["correct.none", "done.menu"]


async def test_correction_refused_when_decided_meanwhile(chat: Chat, svc: Services) -> None:
    reference = await register(chat)
    assert reference
    await chat("ubah data")
    await chat("5")
    await set_status(svc, reference, "approved")
    await chat("Kampung Baru")
    assert chat.keys == ["correct.failed"]
    (row,) = await registrations(svc)
    assert row.jorong == "Koto Tuo"


# -- deletion -------------------------------------------------------------------------------------
async def test_delete_asks_first_and_no_keeps_everything(chat: Chat, svc: Services) -> None:
    await register(chat)
    await chat("hapus data")
    assert chat.keys == ["confirm.delete"]
    await chat.tap("confirm:no")
    assert chat.keys[0] == "delete.kept"
    assert len(await registrations(svc)) == 1


async def test_delete_pending_registration_erases_it_and_records_the_deletion(chat: Chat, svc: Services) -> None:
    reference = await register(chat)
    await chat("hapus data")
    await chat("ya")
    assert chat.keys == ["delete.done"]
    assert await registrations(svc) == []
    async with svc.db.session() as session:
        assert (await session.get(Conversation, chat.user)) is None
        (consent,) = (await session.execute(select(Consent))).scalars()
    assert consent.withdrawn_at == svc.clock.now()
    erased = [e for e in await audit_trail(svc) if e.action == "data_erased"]
    assert [(e.actor, e.details["registrations"], e.details["references"]) for e in erased] == [
        (chat.user, 1, [reference])]
    await chat("status")
    assert chat.keys == ["status.none"]


async def test_delete_a_draft(chat: Chat, svc: Services) -> None:
    await walk_to(chat, "phone")
    await chat("delete my data")
    await chat.tap("confirm:yes")
    assert chat.keys == ["delete.done"]
    async with svc.db.session() as session:
        assert (await session.get(Conversation, chat.user)) is None
    await chat("halo")
    assert chat.keys == ["welcome"]


async def test_delete_an_approved_registration_is_a_request(chat: Chat, svc: Services) -> None:
    reference = await register(chat)
    assert reference
    await set_status(svc, reference, "approved")
    await chat("hapus data")
    await chat("ya")
    assert chat.keys == ["delete.requested"] and reference in chat.text
    (row,) = await registrations(svc)
    assert row.status == "deletion_requested"
    assert ("deletion_requested", reference) in await actions(svc)
    await chat("status")
    assert svc.catalog.text("id", "status.deletion_requested") in chat.text
    # Asking again does not record a second request.
    await chat("hapus data")
    await chat("ya")
    assert [a for a, _ in await actions(svc)].count("deletion_requested") == 1


async def actions(svc: Services) -> list[tuple[str, str | None]]:
    return [(e.action, e.reference) for e in await audit_trail(svc)]


# -- draft expiry ---------------------------------------------------------------------------------
async def test_unfinished_drafts_are_purged_after_the_configured_days(svc: Services, clock: FixedClock) -> None:
    draft, done = Chat(svc, "tg:1"), Chat(svc, "tg:2")
    await walk_to(draft, "jorong")
    await register(done, nik="1303050102900002")
    days = svc.rules.conversation.draft_expiry_days
    clock.advance(timedelta(days=days) - timedelta(minutes=1))
    await run_due(svc)
    assert (await state_of(svc, draft.user)).step == "jorong"
    clock.advance(timedelta(minutes=2))
    await run_due(svc)
    assert (await state_of(svc, draft.user)).step == "idle"  # no row: a fresh state
    assert (await state_of(svc, done.user)).step == "done"
    assert len(await registrations(svc)) == 1
    await draft("Koto Tuo")
    assert draft.keys == ["welcome"]
