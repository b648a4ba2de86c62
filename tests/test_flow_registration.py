"""Transcripts of the registration conversation: the happy path for every work category, the
progress marker, back, edit from the summary, cancel, resume, help after failures, English.

Tests assert on catalog keys and stored state, never on whole sentences (translators change
those). The helpers here (`walk_to`, `state_of`, `registrations`) are shared by the other
tests/test_flow_*.py files.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from conversations.form import FIELDS, FORM, SUMMARY_STEP, TOTAL_STEPS
from conversations.state import State
from handlers.clock import FixedClock
from handlers.services import Services
from storage.models import Registration
from storage.repo import Repository
from tests.conftest import GOOD_NIK, REGISTRATION, Chat, register

# The step each action of conftest.REGISTRATION answers, in the same order.
STEPS = ["language", "consent", "elig_domicile", "elig_member", "elig_work", "category", "name", "nik",
         "birth_confirm", "nagari", "jorong", "phone", "income", "heir_name", "heir_relation"]
# Catalog keys of every form question (the replies that must carry "Langkah N dari 13").
QUESTION_KEYS = {f.prompt for f in FORM if isinstance(f.prompt, str)} | {
    "nagari.prompt", "nagari.pick", "nagari.did_you_mean", "phone.prompt", "phone.prompt_known",
    "income.prompt", "income.type",
    "summary.prompt",
}


async def state_of(svc: Services, user: str) -> State:
    """The conversation state as committed in the database (what survives a crash)."""
    async with svc.db.session() as session:
        return await Repository(session, svc.cipher).load_state(user)


async def registrations(svc: Services) -> list[Registration]:
    async with svc.db.session() as session:
        return list((await session.execute(select(Registration).order_by(Registration.id))).scalars())


async def walk_to(chat: Chat, step: str, lang: str = "id", nik: str = GOOD_NIK,
                  overrides: dict[str, tuple[str, Any]] | None = None) -> None:
    """Say "halo" and answer every question before `step` with conftest.REGISTRATION's answers
    (or `overrides[step]`); stops when `step` is the question being asked."""
    await chat("halo")
    if chat.keys == ["done.menu"] or chat.keys[0].startswith("aftercare."):  # registered before: the language is known
        await chat("daftar baru")  # "daftar" alone shows the registration sent
    answers = dict(zip(STEPS, REGISTRATION))
    answers["language"] = ("tap", f"lang:{lang}")
    answers["nik"] = ("say", nik)
    answers.update(overrides or {})
    for name in STEPS[:STEPS.index(step)]:
        if name == "language" and chat.keys == ["consent.prompt"]:
            continue
        kind, value = answers[name]
        await (chat.tap(value) if kind == "tap" else chat(value))
    assert (await state_of(chat.svc, chat.user)).step == step, chat.keys


def assert_progress(chat: Chat) -> None:
    """Every reply that asks a form question starts with the progress marker of its step."""
    for reply in chat.replies:
        if reply.key in QUESTION_KEYS:
            field_ = FIELDS.get(reply.key.split(".")[0])
            group = SUMMARY_STEP if reply.key == "summary.prompt" else (field_.progress if field_ else None)
            marker = f"Langkah {group} dari {TOTAL_STEPS}" if group else f"dari {TOTAL_STEPS}"
            assert reply.text.startswith("Langkah ") and marker in reply.text.splitlines()[0], reply.text


# ---------------------------------------------------------------------------------------------
async def test_full_registration_is_stored_pending_with_everything(chat: Chat, svc: Services) -> None:
    reference = await register(chat)
    assert reference is not None
    assert not set(reference[3:]) & set("01OI")
    (row,) = await registrations(svc)
    assert (row.reference, row.status, row.nagari_code) == (reference, "pending", "13.03.04.2001")
    assert row.name == "Siti Rahmah" and row.sex == "P" and row.birth_date.isoformat() == "1985-03-12"
    assert row.phone == "+6281234567890" and row.category == "petani" and row.jorong == "Koto Tuo"
    assert (row.income_base, row.monthly_contribution) == (1_000_000, 16_800)
    assert (row.heir_name, row.heir_relation) == ("Ahmad Yani", "suami_istri")
    assert row.channel_user == "tg:1001" and row.flags == [] and row.consent_id is not None
    assert GOOD_NIK not in row.nik_enc
    state = await state_of(svc, chat.user)
    assert state.step == "done" and state.reference == reference and state.answers == {}


async def test_every_question_carries_the_progress_marker(chat: Chat) -> None:
    await chat("halo")
    seen: set[str] = set()
    for kind, value in REGISTRATION:
        await (chat.tap(value) if kind == "tap" else chat(value))
        assert_progress(chat)
        seen |= {k for k in chat.keys if k in QUESTION_KEYS}
    assert {"consent.prompt", "elig.domicile", "category.prompt", "name.prompt", "nik.prompt",
            "birth_confirm.prompt", "nagari.prompt", "jorong.prompt", "phone.prompt", "income.prompt",
            "heir_name.prompt", "heir_relation.prompt", "summary.prompt"} <= seen
    # Re-asked questions (after an error, media, back) carry it too.
    await chat("kembali")
    assert chat.keys == ["heir_relation.prompt"]
    assert_progress(chat)
    # A sticker: the kind answer with the step's buttons, the question itself is just above.
    shown = chat.last.buttons
    await chat.media("sticker")
    assert chat.keys == ["media.unsupported"] and chat.last.buttons == shown


async def test_marker_counts_steps(chat: Chat) -> None:
    await walk_to(chat, "nik")
    assert chat.last.text.splitlines()[0] == "Langkah 7 dari 13"
    other = Chat(chat.svc, "tg:2")
    await walk_to(other, "consent")
    assert other.last.text.splitlines()[0] == "Langkah 1 dari 13"


@pytest.mark.parametrize("category", ["petani", "peternak", "nelayan", "pedagang", "ojek", "guru_mengaji",
                                      "marbot", "buruh_harian", "pengrajin", "lainnya"])
async def test_each_work_category(svc: Services, category: str) -> None:
    assert category in [c.id for c in svc.rules.categories]
    chat = Chat(svc, f"tg:{abs(hash(category)) % 10**6}")
    await walk_to(chat, "category")
    await chat.tap(f"cat:{category}")
    if category == "lainnya":
        assert chat.keys == ["category_other.prompt"]
        await chat("x")
        assert chat.keys == ["category_other.invalid"]
        await chat("  penjahit   keliling ")
    assert chat.keys == ["name.prompt"]
    for kind, value in REGISTRATION[6:]:
        await (chat.tap(value) if kind == "tap" else chat(value))
    assert chat.keys == ["summary.prompt"]
    await chat.tap("sum:send")
    assert chat.keys == ["submit.done"]
    (row,) = await registrations(svc)
    assert row.category == category
    assert row.category_other == ("penjahit keliling" if category == "lainnya" else None)


# -- back ---------------------------------------------------------------------------------------
async def test_back_from_nik_to_name_forgets_the_name(chat: Chat) -> None:
    await walk_to(chat, "nik")
    await chat("kembali")
    assert chat.keys == ["name.prompt"]
    state = await state_of(chat.svc, chat.user)
    assert state.step == "name" and "name" not in state.answers
    await chat("Rahmah")
    assert chat.keys == ["nik.prompt"]
    assert (await state_of(chat.svc, chat.user)).answers["name"] == "Rahmah"


async def test_back_at_several_steps(chat: Chat) -> None:
    await walk_to(chat, "jorong")
    expected = ["nagari.prompt", "birth_confirm.prompt", "nik.prompt", "name.prompt", "category.prompt",
                "elig.work", "elig.member", "elig.domicile", "consent.prompt"]
    for key in expected:
        await chat("back")
        assert chat.keys == [key]
    await chat("kembali")
    assert chat.keys == ["back.nothing", "consent.prompt"]
    # After going back, the flow goes forward again from there.
    await chat.tap("consent:yes")
    assert chat.keys == ["elig.domicile"]


async def test_back_from_a_nagari_sub_pick_returns_to_the_kecamatan_list(chat: Chat) -> None:
    await walk_to(chat, "nagari")
    kecamatan = [b for b in chat.last.buttons if b.id.startswith("kec:")]
    await chat.tap(kecamatan[0].id)
    assert chat.keys == ["nagari.pick"]
    assert all(b.id.startswith("nag:") for b in chat.last.buttons)
    await chat("kembali")
    assert chat.keys == ["nagari.prompt"]
    assert [b.id for b in chat.last.buttons] == [b.id for b in kecamatan]
    await chat("kembali")
    assert chat.keys == ["birth_confirm.prompt"]


async def test_back_from_summary_asks_the_last_question(chat: Chat) -> None:
    await register(chat, submit=False)
    await chat("kembali")
    assert chat.keys == ["heir_relation.prompt"]
    await chat.tap("rel:anak")
    assert chat.keys == ["summary.prompt"]


# -- edit from the summary ----------------------------------------------------------------------
async def test_edit_name_nagari_and_nik_from_summary_then_send(chat: Chat, svc: Services) -> None:
    await register(chat, submit=False)
    await chat.tap("sum:edit")
    assert chat.keys == ["summary.which"]
    await chat("2")
    assert chat.keys == ["name.prompt"]
    await chat("siti  RAHMAWATI")
    assert chat.keys == ["summary.prompt"] and "Siti Rahmawati" in chat.text

    # Nagari through a kecamatan pick.
    await chat("4")
    assert chat.keys == ["nagari.prompt"]
    kec = next(b for b in chat.last.buttons if b.title == "Kamang Baru")
    await chat.tap(kec.id)
    assert chat.keys == ["nagari.pick"]
    nag = next(b for b in chat.last.buttons if b.title.startswith("Kamang"))
    await chat.tap(nag.id)
    assert chat.keys == ["summary.prompt"] and nag.title in chat.text

    # A new NIK: its birth date must be confirmed again. Male, 01-02-1990.
    await chat("3")
    assert chat.keys == ["nik.prompt"]
    await chat("1303050102900002")
    assert chat.keys == ["birth_confirm.prompt"] and "1990" in chat.text
    await chat.tap("yn:yes")
    assert chat.keys == ["summary.prompt"]
    assert "1303************" in chat.text and "1303050102900002" not in chat.text

    await chat.tap("sum:send")
    assert chat.keys == ["submit.done"]
    (row,) = await registrations(svc)
    assert (row.name, row.nagari_code, row.sex, row.birth_date.isoformat()) == (
        "Siti Rahmawati", nag.id[4:], "L", "1990-02-01")
    assert svc.cipher.decrypt(row.nik_enc) == "1303050102900002"
    assert row.jorong == "Koto Tuo" and row.heir_name == "Ahmad Yani"


async def test_back_while_editing_restores_the_old_answer(chat: Chat) -> None:
    await register(chat, submit=False)
    await chat("2")
    await chat("kembali")
    assert chat.keys == ["summary.prompt"] and "Siti Rahmah" in chat.text
    state = await state_of(chat.svc, chat.user)
    assert state.answers["name"] == "Siti Rahmah" and state.editing is None


# -- cancel -------------------------------------------------------------------------------------
async def test_cancel_asks_for_confirmation_no_keeps_going(chat: Chat) -> None:
    await walk_to(chat, "jorong")
    await chat("batal")
    assert chat.keys == ["confirm.cancel"]
    await chat.tap("confirm:no")
    assert chat.keys == ["jorong.prompt"]
    await chat("Koto Tuo")
    assert chat.keys == ["phone.prompt"]


async def test_cancel_confirmed_forgets_the_draft(chat: Chat) -> None:
    await walk_to(chat, "jorong")
    await chat("cancel")
    assert chat.keys == ["confirm.cancel"]
    await chat("ya")
    assert chat.keys == ["cancel.done"]
    state = await state_of(chat.svc, chat.user)
    assert state.answers == {} and not state.in_form
    await chat("status")
    assert chat.keys == ["status.none"]


# -- resume -------------------------------------------------------------------------------------
@pytest.mark.parametrize("choice, expected", [("resume:continue", "jorong.prompt"),
                                              ("resume:restart", "consent.prompt")])
async def test_resume_after_a_while(chat: Chat, clock: FixedClock, svc: Services, choice: str, expected: str) -> None:
    await walk_to(chat, "jorong")
    clock.advance(timedelta(minutes=svc.rules.conversation.resume_after_minutes - 1))
    await chat("kembali")  # within the window: no question
    assert chat.keys == ["nagari.prompt"]
    await chat("Muaro")
    clock.advance(timedelta(minutes=svc.rules.conversation.resume_after_minutes + 1))
    await chat("Koto Tuo")
    assert chat.keys == ["resume.ask"] and "9" in chat.text
    await chat.tap(choice)
    assert chat.keys == [expected]
    answers = (await state_of(svc, chat.user)).answers
    assert ("name" in answers) == (choice == "resume:continue")


async def test_typed_answer_to_resume_question(chat: Chat, clock: FixedClock) -> None:
    await walk_to(chat, "phone")
    clock.advance(timedelta(days=2))
    await chat("0812 3456 7890")
    assert chat.keys == ["resume.ask"]
    await chat("lanjut")
    assert chat.keys == ["phone.prompt"]


# -- failures -----------------------------------------------------------------------------------
async def test_three_failures_offer_help_and_the_conversation_continues(chat: Chat) -> None:
    await walk_to(chat, "nik")
    await chat("12345")
    assert chat.keys == ["nik.length"] and "Contoh" in chat.text
    await chat("abc")
    assert chat.keys == ["nik.not_digits"]
    await chat("0003055203850001")
    assert chat.keys == ["help.stuck"]
    assert chat.svc.rules.help.default in chat.text
    await chat(GOOD_NIK)
    assert chat.keys == ["birth_confirm.prompt"]
    assert (await state_of(chat.svc, chat.user)).failures == 0


async def test_failures_on_a_choice_step(chat: Chat) -> None:
    await walk_to(chat, "elig_work")
    for keys in (["choice.unknown"], ["choice.unknown"], ["help.stuck_choices", "help.stuck"]):
        await chat("entahlah saya bingung")
        assert chat.keys == keys
    # The reason stays; the choices come numbered, and a person is one tap away.
    assert chat.svc.catalog.text("id", "choice.unknown") in chat.replies[0].text
    assert {"work:own", "work:employee"} <= set(chat.buttons()) and chat.replies[1].buttons[0].id == "tk:ask"
    await chat.tap("work:own")
    assert chat.keys == ["category.prompt"]


async def test_help_command_reprompts(chat: Chat) -> None:
    await walk_to(chat, "name")
    await chat("bantuan")
    assert chat.keys == ["help.text", "name.prompt"]
    await chat("/help")
    assert chat.keys == ["help.text", "name.prompt"]


# -- English ------------------------------------------------------------------------------------
async def test_english_walk_through(svc: Services) -> None:
    chat = Chat(svc, "tg:4242")
    await chat("hello")
    await chat.tap("lang:en")
    assert chat.keys == ["consent.prompt"]
    assert chat.last.text.startswith("Step 1 of 13") and "agree" in chat.text.lower()
    assert [b.title for b in chat.last.buttons][0].lower().startswith("yes")
    for kind, value in REGISTRATION[1:]:
        await (chat.tap(value) if kind == "tap" else chat(value))
        assert "Langkah" not in chat.text
    assert chat.keys == ["summary.prompt"] and "Please check" in chat.text
    await chat("my data")
    assert chat.keys[0] == "mydata.text" and "Unfinished" in chat.text
    await chat.tap("sum:send")
    assert chat.keys == ["submit.done"] and "Thank you" in chat.text
    (row,) = await registrations(svc)
    assert row.lang == "en"
    await chat("status")
    assert chat.keys == ["status.text"] and "waiting for the nagari" in chat.text
    await chat("help")
    assert chat.keys == ["help.text"]


async def test_language_can_change_midway(chat: Chat) -> None:
    await walk_to(chat, "name")
    await chat("language")
    await chat.tap("lang:en")
    assert chat.keys == ["language.set", "name.prompt"] and chat.last.text.startswith("Step 6 of 13")


async def test_back_from_summary_after_an_edit_keeps_the_other_answers(chat: Chat) -> None:
    await register(chat, submit=False)
    await chat("2")
    await chat("Siti Aminah")
    assert chat.keys == ["summary.prompt"]
    await chat("kembali")
    assert chat.keys == ["heir_relation.prompt"]
    answers = (await state_of(chat.svc, chat.user)).answers
    assert answers["name"] == "Siti Aminah" and answers["jorong"] == "Koto Tuo"
