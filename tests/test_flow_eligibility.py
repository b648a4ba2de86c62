"""Transcripts of the ways a registration stops or is flagged: consent refused, not in Sijunjung,
already a member, wage employee, age limits, duplicate NIKs, birth dates that disagree with the
NIK, and a NIK issued outside the regency.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from handlers.services import Services
from storage.models import AuditEvent, Consent, Conversation, Person, Registration
from tests.conftest import GOOD_NIK, Chat, register
from tests.test_flow_registration import REGISTRATION, registrations, state_of, walk_to


async def count(svc: Services, table: type, **where: str) -> int:
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(getattr(table, column) == value)
    async with svc.db.session() as session:
        return int((await session.execute(query)).scalar_one())


async def finish(chat: Chat, after: str) -> None:
    """Answer the rest of the form with conftest.REGISTRATION's answers, from after `after` on."""
    from tests.test_flow_registration import STEPS

    for kind, value in REGISTRATION[STEPS.index(after) + 1:]:
        await (chat.tap(value) if kind == "tap" else chat(value))
    assert chat.keys == ["summary.prompt"], chat.keys


# -- consent and eligibility --------------------------------------------------------------------
async def test_consent_refused_keeps_nothing_at_all(chat: Chat, svc: Services) -> None:
    await walk_to(chat, "consent")
    await chat.tap("consent:no")
    assert chat.keys == ["consent.declined"]
    for table in (Conversation, Consent, Registration, AuditEvent, Person):
        assert await count(svc, table) == 0, table.__name__
    # They may change their mind later.
    await chat("daftar")
    assert chat.keys == ["welcome"]


async def test_consent_given_is_recorded_with_time_and_version(chat: Chat, svc: Services) -> None:
    await walk_to(chat, "elig_domicile")
    async with svc.db.session() as session:
        (consent,) = (await session.execute(select(Consent))).scalars()
    assert (consent.channel_user, consent.version, consent.lang) == ("tg:1001", svc.rules.consent_version, "id")
    assert consent.given_at == svc.clock.now() and consent.withdrawn_at is None


@pytest.mark.parametrize("step, button, key", [
    ("elig_domicile", "yn:no", "elig.not_domicile"),
    ("elig_member", "member:yes", "elig.already_member"),
    ("elig_work", "work:employee", "elig.employee"),
])
async def test_ineligible_people_are_told_why_and_stop(chat: Chat, svc: Services, step: str, button: str,
                                                       key: str) -> None:
    await walk_to(chat, step)
    await chat.tap(button)
    assert chat.keys == [key]
    assert svc.rules.help.bpjs_branch in chat.text  # what they can do instead
    state = await state_of(svc, chat.user)
    assert not state.in_form and state.answers == {}
    assert await count(svc, Registration) == 0
    # The next message is not taken as an answer to the old question.
    await chat("Siti")
    assert "name.prompt" not in chat.keys


async def test_membership_unknown_is_a_flag(chat: Chat, svc: Services) -> None:
    await walk_to(chat, "elig_member")
    await chat.tap("member:unknown")
    assert chat.keys == ["elig.work"]
    await chat.tap("work:own")
    await finish(chat, "elig_work")
    await chat.tap("sum:send")
    (row,) = await registrations(svc)
    assert row.flags == ["membership_unknown"]


# -- age ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("nik, age", [
    ("1303051205500001", 76),   # born 12-05-1950
    ("1303055203150001", 11),   # born 12-03-2015 (female)
])
async def test_age_outside_limits_stops(chat: Chat, svc: Services, nik: str, age: int) -> None:
    await walk_to(chat, "nik")
    await chat(nik)
    assert chat.keys == ["birth_confirm.prompt"]
    await chat.tap("yn:yes")
    assert chat.keys == ["age.out_of_range"]
    assert str(age) in chat.text and "15" in chat.text and "65" in chat.text
    assert not (await state_of(svc, chat.user)).in_form
    assert await count(svc, Registration) == 0


async def test_age_limit_applies_to_a_typed_birth_date(chat: Chat) -> None:
    await walk_to(chat, "birth_confirm")
    await chat.tap("yn:no")
    await chat("1 1 1940")
    assert chat.keys == ["age.out_of_range"]


# -- birth date -----------------------------------------------------------------------------------
@pytest.mark.parametrize("typed", ["12-03-1985", "12/3/1985", "12 Maret 1985", "12 mar 85", "12.03.1985",
                                   "12 March 1985"])
async def test_birth_date_typed_in_each_accepted_format(chat: Chat, typed: str) -> None:
    await walk_to(chat, "birth_confirm")
    await chat("Tidak")
    assert chat.keys == ["birth_date.prompt"]
    await chat(typed)
    assert chat.keys == ["nagari.prompt"]
    answers = (await state_of(chat.svc, chat.user)).answers
    assert answers["birth_date"] == "1985-03-12" and answers["birth_confirm"] == "no"
    assert "birth_date_mismatch" not in answers["flags"]


async def test_invalid_and_future_birth_dates(chat: Chat) -> None:
    await walk_to(chat, "birth_confirm")
    await chat.tap("yn:no")
    await chat("3/12")
    assert chat.keys == ["date.invalid"]
    await chat("12-03-2099")
    assert chat.keys == ["date.future"]


async def test_flags_outside_regency_and_birth_date_mismatch_are_stored(chat: Chat, svc: Services) -> None:
    # 1371 = Kota Padang: first issued elsewhere, a warning for the official, not a refusal.
    await walk_to(chat, "nik", nik="1371055203850001")
    await chat("1371 0552 0385 0001")
    assert chat.keys == ["birth_confirm.prompt"]
    await chat.tap("yn:no")
    await chat("14 Maret 1985")
    assert chat.keys == ["nagari.prompt"]
    await finish(chat, "birth_confirm")
    await chat.tap("sum:send")
    (row,) = await registrations(svc)
    assert row.flags == ["birth_date_mismatch", "nik_outside_regency"]
    assert row.birth_date.isoformat() == "1985-03-14" and row.birth_date_nik.isoformat() == "1985-03-12"


async def test_changing_the_nik_clears_its_flags(chat: Chat) -> None:
    await walk_to(chat, "birth_confirm", nik="1371055203850001")
    await chat("kembali")
    await chat(GOOD_NIK)
    await chat.tap("yn:yes")
    assert (await state_of(chat.svc, chat.user)).answers["flags"] == []


# -- duplicates -----------------------------------------------------------------------------------
async def test_duplicate_nik_from_another_person_reveals_nothing(svc: Services) -> None:
    first = Chat(svc, "tg:1")
    reference = await register(first)
    assert reference
    second = Chat(svc, "wa:6281311112222")
    await walk_to(second, "nik")
    await second(GOOD_NIK)
    assert second.keys == ["nik.already_other", "nik.prompt"]
    for secret in (reference, "Siti", "Rahmah", "Muaro", "Koto Tuo", "7890", "Ahmad"):
        assert secret not in second.text
    state = await state_of(svc, second.user)
    assert state.step == "nik" and "nik" not in state.answers and state.pending == {}
    await second("1303050102900002")
    assert second.keys == ["birth_confirm.prompt"]


async def test_same_person_re_entering_own_nik_is_told_its_status(svc: Services) -> None:
    chat = Chat(svc, "tg:1")
    reference = await register(chat)
    await walk_to(chat, "nik")
    await chat(GOOD_NIK)
    assert chat.keys == ["nik.already_own", "nik.prompt"]
    assert reference and reference in chat.text
    assert svc.catalog.text("id", "status.pending") in chat.text
    assert await count(svc, Registration) == 1


async def test_nik_registered_between_check_and_submission(svc: Services) -> None:
    """Two people type the same NIK; the second to press "send" is told and asked for it again."""
    one, two = Chat(svc, "tg:1"), Chat(svc, "tg:2")
    await register(one, submit=False)
    await register(two, submit=False)
    await one.tap("sum:send")
    assert one.keys == ["submit.done"]
    await two.tap("sum:send")
    assert two.keys == ["submit.duplicate", "nik.prompt"]
    assert await count(svc, Registration) == 1
