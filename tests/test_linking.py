"""One person, many doors: two chats linked by a one-time code reach one registration; a link
never joins two NIKs and cannot be guessed; a worker registered in person reaches their
registration from the WhatsApp number given for them, after one tap."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from conversations.events import Text
from handlers.services import Services
from storage.models import AuditEvent, Registration
from tests.conftest import GOOD_NIK, Chat, register
from tests.fake_platform import SimDriver
from tests.officials_support import OPERATOR, add_officials, nik
from tests.test_programme_assisted import walk

WA, TG = "wa:6281234567890", "tg:5550001"


def code_in(chat: Chat) -> str:
    match = re.search(r"\*([A-Z2-9]{6})\*", chat.text)
    assert match, chat.text
    return match.group(1)


async def link_chats(svc: Services, first: Chat, second: Chat) -> str:
    await first("hubungkan")
    assert first.keys == ["identity.code"]
    code = code_in(first)
    await second(f"hubungkan {code}")
    return code


# -- linking two chats -------------------------------------------------------------------------
async def test_a_registration_made_on_whatsapp_is_reached_from_telegram(svc: Services) -> None:
    wa, tg = Chat(svc, WA), Chat(svc, TG)
    reference = await register(wa)
    await tg("status")
    assert tg.keys == ["status.none"]
    await link_chats(svc, wa, tg)
    assert tg.keys == ["identity.linked"]
    assert [o.to for o in tg.others] == [WA] and tg.others[0].reply.key == "identity.linked_other"
    await tg("status")
    assert reference in tg.text
    await tg("data saya")
    assert tg.keys == ["mydata.text"] and "1303************" in tg.text and GOOD_NIK not in tg.text
    # Either side unlinks.
    await wa("putuskan")
    assert wa.keys == ["identity.unlinked"] and [o.to for o in wa.others] == [TG]
    await tg("status")
    assert tg.keys == ["status.none"]
    await tg("unlink")
    assert tg.keys == ["identity.not_linked"]


async def test_linked_from_the_other_side_in_english(svc: Services) -> None:
    wa, tg = Chat(svc, WA), Chat(svc, TG)
    reference = await register(tg, lang="en")
    await tg("link")
    code = code_in(tg)
    await wa(f"link {code.lower()}")  # typed in lower case, on a phone
    assert wa.keys == ["identity.linked"] and "Terhubung!" in wa.text  # a new chat: Indonesian first
    assert "If that was not you" in wa.others[0].reply.text  # the Telegram chat speaks English
    await wa("status")
    assert reference in wa.text


async def test_a_code_works_once_and_for_fifteen_minutes(svc: Services, clock: Any) -> None:
    wa, tg, third = Chat(svc, WA), Chat(svc, TG), Chat(svc, "tg:5550003")
    code = await link_chats(svc, wa, tg)
    await third(f"hubungkan {code}")
    assert third.keys == ["identity.code_wrong"]
    await wa("hubungkan")
    late = code_in(wa)
    clock.advance(timedelta(minutes=16))
    await third(f"hubungkan {late}")
    assert third.keys == ["identity.code_wrong"]
    # A new code replaces an unused older one.
    await third("hubungkan")
    older = code_in(third)
    await third("hubungkan")
    newer = code_in(third)
    fourth = Chat(svc, "tg:5550004")
    await fourth(f"hubungkan {older}")
    assert fourth.keys == ["identity.code_wrong"]
    await fourth(f"hubungkan {newer}")
    assert fourth.keys == ["identity.linked"]


async def test_a_link_never_joins_two_nik(svc: Services) -> None:
    wa, tg = Chat(svc, WA), Chat(svc, TG)
    await register(wa)
    await register(tg, nik=nik(7))
    await link_chats(svc, wa, tg)
    assert tg.keys == ["identity.other_nik"]
    await tg("status")
    assert tg.text.count("SJ-") == 1  # still only its own


async def test_guessing_codes_is_locked_out_and_a_takeover_fails(svc: Services, clock: Any) -> None:
    victim, attacker = Chat(svc, WA), Chat(svc, "tg:6660001")
    reference = await register(victim)
    await victim("hubungkan")
    real = code_in(victim)
    limit = svc.config.limits.link_guesses_per_hour
    for attempt in range(limit):
        await attacker(f"hubungkan {'ABCDEF' if real != 'ABCDEF' else 'ABCDEG'}")
    assert attacker.keys == ["identity.too_many"]
    # Locked: even the right code does nothing now.
    await attacker(f"hubungkan {real}")
    assert attacker.keys == ["identity.too_many"]
    await attacker("status")
    assert reference not in attacker.text
    async with svc.db.session() as session:
        failures = (await session.execute(select(AuditEvent).where(AuditEvent.action == "link_code_failed"))).all()
    assert len(failures) == limit
    clock.advance(timedelta(minutes=61))
    await attacker("hubungkan ZZZZZZ")
    assert attacker.keys == ["identity.code_wrong"]


# -- a worker registered in person ------------------------------------------------------------------
async def in_person(svc: Services, clock: Any) -> str:
    """An operator registers a worker in person; the worker's WhatsApp is 0812-3456-7890."""
    await add_officials(svc)
    out = await walk(SimDriver(svc, clock), OPERATOR)
    text = next(m["text"] for m in out if m["to"] == WA)
    return "SJ-" + text.split("SJ-")[1][:6]


async def test_an_in_person_worker_reaches_their_registration_after_one_tap(svc: Services, clock: Any) -> None:
    reference = await in_person(svc, clock)
    worker = Chat(svc, WA)
    await worker("halo")
    assert worker.keys == ["identity.claim.offer"]
    assert reference in worker.text and "1303************" in worker.text and GOOD_NIK not in worker.text
    await worker("data saya")  # not yet: only the masked NIK before the tap
    assert worker.keys == ["identity.claim.offer"]
    await worker.tap("claim:yes")
    assert worker.keys[0] == "identity.claim.done" and "status.text" in worker.keys and reference in worker.text
    await worker("data saya")
    assert worker.keys == ["mydata.text"] and "Siti Rahmah" in worker.text
    await worker("ubah data")
    assert worker.keys == ["correct.pick"]  # an undecided registration: the worker may correct it
    async with svc.db.session() as session:
        row = (await session.execute(select(Registration).where(Registration.reference == reference))).scalar_one()
    assert row.channel_user == WA


async def test_a_tap_on_the_notice_s_quick_reply_is_the_proof(svc: Services, clock: Any) -> None:
    reference = await in_person(svc, clock)
    worker = Chat(svc, WA)
    await worker.send(Text("Lihat status", tapped=True))
    assert worker.keys[0] == "identity.claim.done" and reference in worker.text


async def test_not_me_is_remembered(svc: Services, clock: Any) -> None:
    reference = await in_person(svc, clock)
    worker = Chat(svc, WA)
    await worker("halo")
    await worker.tap("claim:no")
    assert worker.keys == ["identity.claim.declined"]
    await worker("status")
    assert worker.keys == ["status.none"] and reference not in worker.text


@pytest.mark.parametrize("who", ["tg:5550009", "wa:6281299990000"])
async def test_no_offer_for_another_number(svc: Services, clock: Any, who: str) -> None:
    await in_person(svc, clock)
    other = Chat(svc, who)
    await other("halo")
    assert "identity.claim.offer" not in other.keys


async def test_on_whatsapp_the_tap_on_the_notice_template_reaches_the_registration(svc: Services, clock: Any) -> None:
    """Real HTTP: the approval notice goes to the in-person worker's number as its template; the
    worker taps its quick reply; the registration is theirs and the notice itself follows."""
    from conversations.events import Reply
    from handlers.delivery import Priority
    from tests.fake_graph import whatsapp_harness
    from tests.officials_support import add_registrations
    from tests.test_whatsapp_template_sending import approve, quick_reply

    [reference] = await add_registrations(svc, 1, channel_prefix="assist:tg:9002#")
    async with svc.db.session() as session:
        row = (await session.execute(select(Registration).where(Registration.reference == reference))).scalar_one()
        row.channel_user, row.phone = f"assist:{OPERATOR}", "+6281234567890"
        await session.commit()
    await approve(svc)
    async with whatsapp_harness(svc) as wa:
        await wa.sender.refresh_templates()
        notice = Reply("official.worker.approved", f"Pendaftaran {reference} disetujui.")
        assert (await wa.sender.send(WA, notice, Priority.NOTIFY)).ok
        assert [r.type for r in wa.graph.sent] == ["template"]
        sent = await wa.send(quick_reply("Lihat status"))
        texts = [r.text for r in sent]
        assert any(reference in t for t in texts if t != notice.text) and notice.text in texts
    async with svc.db.session() as session:
        row = (await session.execute(select(Registration).where(Registration.reference == reference))).scalar_one()
    assert row.channel_user == WA
