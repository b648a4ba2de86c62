"""Understanding typed answers: the shared reader (conversations/understand.py) and what the
registration does with it -- numbers only where shown, the one-tap "Maksud Anda ...?", three
failed tries, progress per question, the nagari named back, reactions, examples the bot shows,
and NIK-shaped numbers in free text.
"""

from __future__ import annotations

import re

import pytest

from bench.b_understanding import WA_USER, World, context, state_at, turn
from conversations.events import Button, ButtonPress, Media, Text
from conversations.form import FIELDS, FORM, TOTAL_STEPS
from conversations.understand import (
    amount_text,
    fold,
    not_an_answer,
    read_choice,
    relation_prefix,
    strip_prefix,
    summary_item,
)
from conversations.validators import contains_nik, parse_income
from tests.conftest import GOOD_NIK, Chat
from tests.test_flow_registration import state_of, walk_to

YES_NO = [Button("yn:yes", "Ya"), Button("yn:no", "Tidak")]
CATEGORIES = [Button("cat:petani", "Petani/pekebun"), Button("cat:pedagang", "Pedagang"),
              Button("cat:nelayan", "Nelayan")]


# -- the reader ---------------------------------------------------------------------------------
@pytest.mark.parametrize("typed, folded", [
    ("Iyaaa 👍", "iya iya"), ("TDK", "tidak"), ("ambo patani", "saya petani"), ("kira2", "kira"),
    ("okeee", "oke"), ("karajo surang", "kerja sendiri"), ("alun", "belum"),
])
def test_folding(typed: str, folded: str) -> None:
    assert fold(typed) == folded


def test_a_number_is_a_choice_only_where_numbers_were_shown() -> None:
    assert read_choice("2", CATEGORIES, numbers_shown=True).button.id == "cat:pedagang"
    assert read_choice("2", CATEGORIES, numbers_shown=False) is None
    assert read_choice("4", CATEGORIES, numbers_shown=True) is None


@pytest.mark.parametrize("typed, expected", [
    ("saya petani", "cat:petani"), ("ambo patani sawit", "cat:petani"), ("jual sayur di pasar", "cat:pedagang"),
    ("I'm a farmer", "cat:petani"), ("petani dan pedagang", None), ("bukan petani", None),
])
def test_choices_inside_a_sentence(typed: str, expected: str | None) -> None:
    reading = read_choice(typed, CATEGORIES)
    assert (reading.button.id if reading else None) == expected


@pytest.mark.parametrize("typed, expected", [
    ("ya benar", "yn:yes"), ("iyo, satuju", "yn:yes"), ("tidak setuju", "yn:no"), ("gak", "yn:no"),
    ("nanti dulu ya", None), ("ya tidak", None), ("no I'm not", "yn:no"), ("yes that's right", "yn:yes"),
])
def test_yes_and_no(typed: str, expected: str | None) -> None:
    reading = read_choice(typed, YES_NO)
    assert (reading.button.id if reading else None) == expected


def test_a_fairly_close_spelling_is_asked_not_taken() -> None:
    buttons = [Button("cat:marbot", "Marbot/garin masjid"), Button("cat:nelayan", "Nelayan")]
    reading = read_choice("garim masjd", buttons)
    assert reading is not None and reading.button.id == "cat:marbot"
    unsure = read_choice("nelyan ikn", buttons)
    assert unsure is None or not unsure.sure or unsure.button.id == "cat:nelayan"


@pytest.mark.parametrize("kind, typed, rest", [
    ("name", "nama saya Siti Aminah", "Siti Aminah"), ("name", "Nama: SITI", "SITI"),
    ("name", "my name is Siti", "Siti"), ("name", "nama saya", ""), ("name", "Saya", ""),
    ("birth_date", "lahir 12 maret 85", "12 maret 85"), ("birth_date", "tgl lahir: 1-2-90", "1-2-90"),
    ("phone", "hp saya 0812 3456 7890", "0812 3456 7890"), ("phone", "no hp: 0812", "0812"),
    ("nagari", "sy tinggal di muaro", "muaro"), ("nagari", "di nagari aie angek", "aie angek"),
    ("name", "Namira Putri", "Namira Putri"),
])
def test_prefixes_are_removed_and_the_answer_kept_as_typed(kind: str, typed: str, rest: str) -> None:
    assert strip_prefix(kind, typed) == rest


@pytest.mark.parametrize("typed, rupiah", [
    ("sejuta", 1_000_000), ("satu juta", 1_000_000), ("dua setengah juta", 2_500_000), ("kira2 800rb", 800_000),
    ("sekitar 1 jt", 1_000_000), ("Rp1.000.000,-", 1_000_000), ("1.5 million", 1_500_000),
    ("2 million", 2_000_000), ("1,5jt", 1_500_000), ("sejuta setengah", 1_500_000),
    ("dua ratus lima puluh ribu", 250_000), ("seratus ribu", 100_000), ("one and a half million", 1_500_000),
])
def test_amounts_in_words(typed: str, rupiah: int) -> None:
    assert parse_income(amount_text(typed)) == rupiah


def test_relation_before_the_name_and_summary_items() -> None:
    assert relation_prefix("istri saya Siti") == ("suami_istri", "Siti")
    assert relation_prefix("Ibu Siti") is None  # a form of address, not "my mother"
    assert summary_item("ubah nomor hp") == 8 and summary_item("hp salah") == 8 and summary_item("ganti nama") == 4
    assert summary_item("kirim") is None


@pytest.mark.parametrize("typed, kind", [
    ("halo", "greeting"), ("Assalamualaikum", "greeting"), ("makasih", "thanks"), ("ini untuk apa?", "question"),
    ("berapa biayanya", "question"), ("tidak tahu", "unknown"), ("Siti Aminah", None), ("Apriyanti", None),
])
def test_not_an_answer(typed: str, kind: str | None) -> None:
    assert not_an_answer(typed) == kind


@pytest.mark.parametrize("text, found", [
    ("1303055203850001", True), ("nama saya siti 1303 0552 0385 0001", True), ("1303-0552-0385-0001", True),
    ("0812 3456 7890", False), ("13030552038500011", False), ("Jorong Koto Tuo", False), ("RT 01 RW 02", False),
])
def test_contains_nik(text: str, found: bool) -> None:
    assert contains_nik(text) is found


# -- the flow -----------------------------------------------------------------------------------
def test_income_two_is_asked_and_one_tap_confirms() -> None:
    world, ctx = World(), context("tg:1")
    state = state_at("income", "id", "tg:1")
    state, replies = turn(world, state, Text("2"), ctx)
    assert [r.key for r in replies] == ["confirm.guess"] and "Rp 2.000.000" in replies[0].text
    assert "income" not in state.answers
    confirmed, replies = turn(world, state, ButtonPress("guess:yes"), ctx)
    assert confirmed.answers["income"] == 2_000_000 and confirmed.step == "heir_name"
    # "Bukan": the question again, nothing kept; a typed answer instead of yes/no is read afresh.
    refused, replies = turn(world, state, Text("bukan"), ctx)
    assert "income" not in refused.answers and refused.step == "income" and replies[-1].key == "income.prompt"
    typed, _ = turn(world, state, Text("800rb"), ctx)
    assert typed.answers["income"] == 800_000


def test_a_fuzzy_choice_is_confirmed_with_one_tap() -> None:
    world, ctx = World(), context("tg:1")
    state = state_at("category", "id", "tg:1")
    asked, replies = turn(world, state, Text("padagan kaki"), ctx)  # close, but not close enough to take
    assert [r.key for r in replies] == ["confirm.guess"] and "*Pedagang*" in replies[0].text
    assert [b.id for b in replies[0].buttons] == ["guess:yes", "guess:no"] and "category" not in asked.answers
    confirmed, replies = turn(world, asked, ButtonPress("guess:yes"), ctx)
    assert confirmed.answers["category"] == "pedagang" and replies[-1].key == "name.prompt"
    typed_yes, _ = turn(world, asked, Text("iyo"), ctx)
    assert typed_yes.answers["category"] == "pedagang"


def test_a_number_at_a_yes_no_question_is_not_a_button_until_numbers_are_shown() -> None:
    world, ctx = World(), context("tg:1")
    state = state_at("elig_domicile", "id", "tg:1")
    state, replies = turn(world, state, Text("1"), ctx)
    assert [r.key for r in replies] == ["choice.unknown"] and "elig_domicile" not in state.answers
    state, replies = turn(world, state, Text("1"), ctx)
    state, replies = turn(world, state, Text("1"), ctx)
    # Third try: the reason, the choices with numbers, and a button to a person, in the
    # person's language.
    assert [r.key for r in replies] == ["help.stuck_choices", "help.stuck"]
    assert ctx.t("id", "choice.unknown", count=2) in replies[0].text
    assert "1. Ya" in replies[0].text and "2. Tidak" in replies[0].text
    assert ctx.rules.help.default in replies[1].text and [b.id for b in replies[1].buttons] == ["tk:ask"]
    state, replies = turn(world, state, Text("1"), ctx)
    assert state.answers["elig_domicile"] is True and replies[-1].key == "elig.member"


def test_stuck_in_english_gets_the_english_contact() -> None:
    world, ctx = World(), context("tg:1")
    state = state_at("nik", "en", "tg:1")
    for _ in range(3):
        state, replies = turn(world, state, Text("12345"), ctx)
    assert replies[-1].key == "help.stuck"
    english = ctx.rules.help.default_by_language["en"]
    assert english in replies[-1].text and ctx.rules.help.default not in replies[-1].text


def test_every_question_moves_the_progress_on() -> None:
    steps = [f.progress for f in FORM]
    assert steps == sorted(steps) and max(steps) < TOTAL_STEPS
    eligibility = [FIELDS[k].progress for k in ("elig_domicile", "elig_member", "elig_work")]
    assert len(set(eligibility)) == 3
    world, ctx = World(), context("tg:1")
    state = state_at("elig_domicile", "id", "tg:1")
    seen = []
    for answer in ("ya", "belum", "usaha sendiri"):
        state, replies = turn(world, state, Text(answer), ctx)
        seen.append(replies[-1].text.splitlines()[0])
    assert seen == [f"Langkah 3 dari {TOTAL_STEPS}", f"Langkah 4 dari {TOTAL_STEPS}", f"Langkah 5 dari {TOTAL_STEPS}"]


@pytest.mark.parametrize("typed, named", [("muaraa", True), ("sy tinggal di muaro", False), ("Muaro", False),
                                          ("aia angek", True), ("Muaro, Sijunjung", True)])
def test_a_nagari_read_from_a_spelling_is_named_back(typed: str, named: bool) -> None:
    world, ctx = World(), context("tg:1")
    state, replies = turn(world, state_at("nagari", "id", "tg:1"), Text(typed), ctx)
    if state.step != "jorong":
        pytest.skip(f"{typed!r} is not read as one nagari")
    first = replies[-1].text.splitlines()[0]
    assert first.startswith("Nagari ") is named, replies[-1].text
    if named:
        assert "Kec. " in first


def test_heir_name_and_relation_in_one_answer() -> None:
    world, ctx = World(), context("tg:1")
    state, replies = turn(world, state_at("heir_name", "id", "tg:1"), Text("Ahmad (suami)"), ctx)
    assert (state.answers["heir_name"], state.answers["heir_relation"]) == ("Ahmad", "suami_istri")
    assert replies[-1].key == "summary.prompt" and "Ahmad (Suami/Istri)" in replies[-1].text


def test_yes_to_use_this_number() -> None:
    world, ctx = World(), context(WA_USER)
    state = state_at("phone", "id", WA_USER)
    yes, _ = turn(world, state, Text("iya"), ctx)
    assert yes.answers["phone"] == "+6281234567890"
    no, replies = turn(world, state, Text("bukan"), ctx)
    assert "phone" not in no.answers and [r.key for r in replies] == ["phone.type_other"]
    other, _ = turn(world, no, Text("0813 9999 8888"), ctx)
    assert other.answers["phone"] == "+6281399998888"


def test_the_summary_numbers_are_its_items() -> None:
    world, ctx = World(), context("tg:1")
    state = state_at("summary", "id", "tg:1")
    edited, replies = turn(world, state, Text("2"), ctx)
    assert edited.editing == 4 and replies[-1].key == "name.prompt"
    phone, replies = turn(world, state, Text("hp salah"), ctx)
    assert phone.editing == 8 and replies[-1].key == "phone.prompt"


@pytest.mark.parametrize("kind", ["reaction"])
async def test_a_reaction_gets_no_answer(chat: Chat, kind: str) -> None:
    await walk_to(chat, "name")
    before = await state_of(chat.svc, chat.user)
    await chat.media(kind)
    assert chat.replies == []
    after = await state_of(chat.svc, chat.user)
    assert (after.step, after.answers, after.failures) == (before.step, before.answers, before.failures)
    await chat("Siti Rahmah")
    assert chat.keys == ["nik.prompt"]


@pytest.mark.parametrize("step, text", [("name", "Siti 1303055203850001"), ("jorong", "1303 0552 0385 0001"),
                                        ("heir_name", "Ahmad 1303055203850001"), ("category_other", GOOD_NIK)])
def test_a_nik_in_free_text_is_refused_and_never_echoed(step: str, text: str) -> None:
    world, ctx = World(), context("tg:1")
    state = state_at(step, "id", "tg:1")
    after, replies = turn(world, state, Text(text), ctx)
    assert after.answers == state.answers and after.step == step
    assert [r.key for r in replies] == ["answer.nik_in_text"]
    assert all(GOOD_NIK not in re.sub(r"\D", "", r.text) for r in replies)


# -- examples the bot shows ---------------------------------------------------------------------
def examples(key: str, lang: str) -> list[str]:
    text = context("tg:1").t(lang, key)
    body = text.split(":", 1)[1]
    return [p.strip() for p in re.split(r",| atau | or ", body) if p.strip()]


@pytest.mark.parametrize("lang", ["id", "en"])
@pytest.mark.parametrize("field_key", [f.key for f in FORM if f.example])
def test_every_example_the_bot_shows_is_accepted(lang: str, field_key: str) -> None:
    field_ = FIELDS[field_key]
    found = examples(field_.example or "", lang)
    assert found, field_.example
    for example in found:
        world, ctx = World(), context("tg:1")
        state = state_at(field_key, lang, "tg:1")
        after, replies = turn(world, state, Text(example), ctx)
        if after.confirm == "guess":
            after, replies = turn(world, after, ButtonPress("guess:yes"), ctx)
        written = {k for k in after.answers if after.answers.get(k) != state.answers.get(k)}
        assert written and after.step != field_key, (lang, field_key, example, [r.key for r in replies])
